#!/usr/bin/env bash
# Installs the official Stripe SDK (npm `stripe`) that the mock's compatibility test
# (tests/tierbench/mock_compat.rs) drives, at the version pinned in
# .ci/versions.env (STRIPE_NODE_NPM), into $TIERBENCH_CACHE/compat (default
# ~/.cache/tierbench/compat). A cached copy of another version is replaced.
# scripts/compat/drift.sh runs the same checks against the newest releases.
set -euo pipefail
. "$(dirname "$0")/../pinned.sh"
pinned_apt nodejs
pinned_npm compat stripe "$STRIPE_NODE_NPM"
