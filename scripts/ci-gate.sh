#!/usr/bin/env bash
# The performance gate: what `.ci/run` runs, and what a CI pipeline copies.
#
# 1. Simulated (deterministic, so any change is the code's): every shipped
#    scenario below runs in the simulator with its seed and built-in latencies
#    and is checked against results/baselines/<scenario>.sim.json. A change in
#    behaviour beyond the tolerances fails; bless an intended one with
#    scripts/bless-baselines.sh and commit the new baselines.
# 2. Live (noisy, so only machine-independent metrics, with wide bands):
#    quickstart on local Redis and DynamoDB Local, checked against its
#    [thresholds] and results/baselines/quickstart.live.json on hit ratios,
#    Stripe calls, errors and Stripe's p99. Skipped with GATE_LIVE=0.
#
# Writes Markdown and JUnit XML per check under $GATE_OUT (default
# target/gate). Exit 0 when every check passes, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${TIERBENCH_BIN:-target/release/tierbench}
out=${GATE_OUT:-target/gate}
scenarios=${GATE_SCENARIOS:-quickstart customer-portal stampede billing-burst ttl-sweep}
rm -rf "$out" && mkdir -p "$out"
failed=()

# Runs "$@" (a run, sweep or sim) and prints its result directory; exit 1
# (a threshold failed) still leaves a result to check, anything else does not.
produce() {
  local log=$1; shift
  "$@" >"$log" 2>&1
  local rc=$?
  if [ "$rc" -gt 1 ]; then
    cat "$log" >&2
    return "$rc"
  fi
  sed -n 's/^results: //p' "$log"
}

gate() {
  local name=$1; shift
  echo "== check $name"
  if ! "$bin" check "$@" --markdown "$out/$name.md" --junit "$out/$name.xml"; then
    failed+=("$name")
  fi
}

for s in $scenarios; do
  run=$(produce "$out/$s.sim.log" "$bin" sim "scenarios/$s.toml" --calibration none --results "$out/results") \
    || { echo "simulating $s failed" >&2; failed+=("$s.sim"); continue; }
  gate "$s.sim" "$run" --baseline "results/baselines/$s.sim.json"
done

if [ "${GATE_LIVE:-1}" != 0 ]; then
  run=$(produce "$out/quickstart.live.log" "$bin" run scenarios/quickstart.toml --backend local --results "$out/results") \
    || { echo "the live quickstart run failed" >&2; failed+=("quickstart.live"); run=""; }
  if [ -n "$run" ]; then
    gate quickstart.live "$run" --baseline results/baselines/quickstart.live.json \
      --metric hit_ratio.l1 --metric hit_ratio.l2 --metric stripe_calls_per_s --metric error_ratio \
      --metric p99.origin --tolerance hit_ratio=3pt --tolerance errors=3pt --tolerance stripe=20% \
      --tolerance latency=50%
  fi
fi

if [ "${#failed[@]}" -gt 0 ]; then
  echo "gate FAILED: ${failed[*]} (reports in $out)"
  exit 1
fi
echo "gate passed (reports in $out)"
