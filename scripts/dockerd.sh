#!/usr/bin/env bash
# Starts or stops a private Docker engine for machines without an init system
# (Debian's docker.io cannot start itself there). Prints the DOCKER_HOST to export.
#
#   scripts/dockerd.sh start   # -> DOCKER_HOST=tcp://127.0.0.1:23750
#   scripts/dockerd.sh stop
#
# State lives under $TIERBENCH_DOCKERD_DIR (default /tmp/tierbench-dockerd).
set -euo pipefail
dir=${TIERBENCH_DOCKERD_DIR:-/tmp/tierbench-dockerd}
port=${TIERBENCH_DOCKERD_PORT:-23750}
host="tcp://127.0.0.1:$port"

case "${1:-}" in
  start)
    command -v dockerd >/dev/null || { echo "dockerd not found: apt-get install -y docker.io" >&2; exit 3; }
    mkdir -p "$dir"
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      echo "DOCKER_HOST=$host"; exit 0
    fi
    dockerd --storage-driver overlay2 --iptables=false --ip6tables=false \
      --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/pid" \
      -H "unix://$dir/docker.sock" -H "$host" >"$dir/log" 2>&1 &
    for _ in $(seq 1 100); do
      if DOCKER_HOST=$host docker version >/dev/null 2>&1; then echo "DOCKER_HOST=$host"; exit 0; fi
      sleep 0.2
    done
    echo "dockerd did not answer on $host within 20 s; its log:" >&2
    tail -20 "$dir/log" >&2
    exit 3
    ;;
  stop)
    if [ -f "$dir/pid" ]; then
      pid=$(cat "$dir/pid")
      DOCKER_HOST=$host docker ps -aq --filter label=org.testcontainers.managed-by=testcontainers 2>/dev/null \
        | xargs -r env DOCKER_HOST=$host docker rm -f >/dev/null 2>&1 || true
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/pid"
    fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
