#!/usr/bin/env bash
# Drift report, not a gate: runs the mock's compatibility checks
# (scripts/compat/stripe_node_check.cjs, through tests/tierbench/mock_compat.rs)
# against the newest stripe-node releases, each installed into its own folder
# under $TIERBENCH_CACHE/compat-drift/, and prints, per release, whether each
# check holds. The gate itself uses the version pinned in .ci/versions.env.
#
#   scripts/compat/drift.sh        # the newest 3 releases
#   DRIFT_RELEASES=5 scripts/compat/drift.sh
#
# Exit 0 always when the checks ran (drift is reported, not failed); 2 when
# they could not run.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/pinned.sh
count=${DRIFT_RELEASES:-3}
command -v npm >/dev/null || { echo "npm is missing: scripts/compat/install.sh installs it" >&2; exit 2; }
mapfile -t releases < <(npm view stripe versions --json \
  | node -e 'const v=JSON.parse(require("fs").readFileSync(0,"utf8")).filter(x=>/^\d+\.\d+\.\d+$/.test(x)); console.log(v.slice(-'"$count"').reverse().join("\n"))')
[ ${#releases[@]} -gt 0 ] || { echo "npm listed no stripe release" >&2; exit 2; }
echo "newest stripe-node release: ${releases[0]} (pinned: $STRIPE_NODE_NPM)"
cargo test --quiet --test tierbench --no-run 2>/dev/null || cargo test --test tierbench --no-run
report=()
for v in "${releases[@]}"; do
  pinned_npm "compat-drift/$v" stripe "$v" >/dev/null
  log=$(mktemp)
  status=0
  TIERBENCH_COMPAT_DIR="$tool_cache/compat-drift/$v" cargo test --quiet --test tierbench \
    mock_compat::mock_compat_official_stripe_node_sdk_reads_objects_errors_and_verifies_webhooks \
    -- --exact --nocapture >"$log" 2>&1 || status=$?
  held=$(grep -c '^ok - ' "$log" || true)
  failed=$(grep '^FAILED: ' "$log" || true)
  echo
  echo "== stripe-node $v: $held checks hold, $(printf '%s' "$failed" | grep -c . || true) fail"
  grep -E '^(ok - |FAILED: )' "$log" | sed 's/^/   /'
  if [ "$status" -ne 0 ] && [ "$held" -eq 0 ]; then
    echo "   (the check did not run; the test's output:)"
    tail -20 "$log" | sed 's/^/   /'
  fi
  report+=("stripe-node $v: $held hold${failed:+; fail: $(printf '%s' "$failed" | sed 's/^FAILED: //' | paste -sd ';' -)}")
  rm -f "$log"
done
echo
echo "== drift summary (pinned $STRIPE_NODE_NPM)"
printf '%s\n' "${report[@]}"
