#!/usr/bin/env bash
# Fuzz smoke run: every cargo-fuzz target in fuzz/ for a short time (FUZZ_SECONDS,
# 20 s by default), starting from the committed seeds. Fails on any crash, leak,
# timeout or out-of-memory, and prints how many inputs each target ran.
#
# Installs what it needs at the versions pinned in .ci/versions.env: cargo-fuzz
# (CARGO_FUZZ). It builds with the pinned toolchain (RUST_TOOLCHAIN, the machine's
# stable compiler) and RUSTC_BOOTSTRAP=1, which accepts the -Z flags that
# sanitizers need: that is the pinned stand-in for a nightly, so the fuzz build
# uses the same compiler as every other build, on every machine.
#
#   scripts/fuzz-smoke.sh                  # every target, 20 s each
#   FUZZ_SECONDS=600 scripts/fuzz-smoke.sh scenario
#
# FUZZ_TARGET_DIR puts the build elsewhere than fuzz/target (say, a directory
# that outlives the checkout, so a fresh clone does not rebuild everything).
#
# New corpus entries go to a scratch directory, never into fuzz/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(webhook_verify webhook_event cache_entry scenario)
fi
max_len() {
  case $1 in
    scenario) echo 16384 ;;
    cache_entry) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start ))s"; }

. scripts/pinned.sh
check_toolchain
pinned_cargo cargo-fuzz "$CARGO_FUZZ"
export RUSTC_BOOTSTRAP=1
echo "== toolchain: $(rustc --version) with RUSTC_BOOTSTRAP=1 ($(elapsed))"

# A smoke run is short, so it builds cargo-fuzz's --dev profile (fuzz/Cargo.toml:
# unoptimized, line tables only), which compiles several times faster than its
# default release build (one codegen unit, full debug info); FUZZ_RELEASE=1 for
# long runs, where speed per input matters.
build=(--dev)
[ "${FUZZ_RELEASE:-0}" = 1 ] && build=()
if [ -n "${FUZZ_TARGET_DIR:-}" ]; then
  build+=(--target-dir "$FUZZ_TARGET_DIR")
fi

echo "== building the fuzz targets ($(elapsed))"
cargo fuzz build "${build[@]}"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
summary=()
for t in "${targets[@]}"; do
  echo "== $t: ${seconds}s from fuzz/corpus/$t ($(elapsed))"
  mkdir -p "$scratch/$t"
  log="$scratch/$t.log"
  status=0
  cargo fuzz run "${build[@]}" "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=30 -rss_limit_mb=4096 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1 || true)
  line="$t: ${runs:-?} runs in ${seconds}s; ${cov:-no coverage line}"
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    line="$line; FAILED (exit $status)"
    echo "---- $t output (last 60 lines) ----"
    tail -n 60 "$log"
    # Keep the failing input where it can be seen after the scratch is gone.
    ls fuzz/artifacts/"$t"/ 2>/dev/null | sed "s|^|fuzz/artifacts/$t/|" || true
  fi
  echo "$line"
  summary+=("$line")
done

echo "== fuzz smoke summary ($(elapsed))"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz smoke: crash in ${failed[*]} (inputs under fuzz/artifacts/; reproduce with RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/FILE)" >&2
  exit 1
fi
echo "fuzz smoke: ${#targets[@]} targets, no crash"
