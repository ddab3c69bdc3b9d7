#!/usr/bin/env bash
# Installs the official Stripe SDK (npm `stripe`) that the mock's compatibility test
# (tests/tierbench/mock_compat.rs) drives, into $TIERBENCH_CACHE/compat
# (default ~/.cache/tierbench/compat). Needs node >= 18 and npm.
set -euo pipefail
cache="${TIERBENCH_CACHE:-$HOME/.cache/tierbench}/compat"
command -v node >/dev/null || { echo "node is missing: install Node.js 20 (apt-get install -y nodejs npm)" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is missing: install npm (apt-get install -y npm)" >&2; exit 1; }
mkdir -p "$cache"
if [ -f "$cache/node_modules/stripe/package.json" ]; then
  echo "stripe $(node -p "require('$cache/node_modules/stripe/package.json').version") already in $cache"
  exit 0
fi
npm install --prefix "$cache" --no-audit --no-fund --loglevel=error stripe
echo "installed stripe $(node -p "require('$cache/node_modules/stripe/package.json').version") into $cache"
