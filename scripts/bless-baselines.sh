#!/usr/bin/env bash
# Regenerates results/baselines/ after an intended change in behaviour (or a
# result schema change): the simulated baseline of every gated scenario and,
# unless BLESS_LIVE=0, the live quickstart on local backends. Commit the files
# with the change that explains them.
#
#   scripts/bless-baselines.sh
#   TIERBENCH_BIN=target/debug/tierbench BLESS_LIVE=0 scripts/bless-baselines.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# TIERBENCH_BIN: a tierbench already built (simulations are deterministic in
# any build profile); else the release build.
bin=${TIERBENCH_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin=target/release/tierbench
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p results/baselines
for s in ${GATE_SCENARIOS:-quickstart customer-portal stampede billing-burst ttl-sweep}; do
  "$bin" sim "scenarios/$s.toml" --calibration none --results "$tmp" >"$tmp/log" 2>&1 || [ $? -eq 1 ]
  cp "$(sed -n 's/^results: //p' "$tmp/log")/result.json" "results/baselines/$s.sim.json"
  echo "blessed results/baselines/$s.sim.json"
done
if [ "${BLESS_LIVE:-1}" != 0 ]; then
  "$bin" run scenarios/quickstart.toml --backend local --results "$tmp" >"$tmp/log" 2>&1 || [ $? -eq 1 ]
  cp "$(sed -n 's/^results: //p' "$tmp/log")/result.json" results/baselines/quickstart.live.json
  echo "blessed results/baselines/quickstart.live.json"
fi
