#!/usr/bin/env bash
# Throughput of `tierbench mock-stripe` (release, zero latency, no rate limits)
# against a minimal axum handler returning a fixed JSON body of the same size
# (examples/bench_reference.rs), under the same load generator (wrk), the same
# connections and duration, servers pinned to the same core, in interleaved
# rounds (alternating which goes first); prints each round's ratio, the median
# ratio (target >= 0.6) and the median rates, then the mock's RSS before and
# after ~1M more requests (target: flat within 10 %). The machine is shared and
# noisy, so the figure is the median of per-round ratios, not a ratio of medians.
#
# usage: scripts/bench-mock.sh [-c CONNECTIONS] [-d SECONDS] [-r ROUNDS] [-n RSS_REQUESTS] [-B]
#   -B: use the release binaries already built (skip cargo build)
set -euo pipefail
connections=32 duration=6 rounds=5 rss_requests=1000000 build=1
while getopts c:d:r:n:B opt; do
  case $opt in
    c) connections=$OPTARG ;; d) duration=$OPTARG ;; r) rounds=$OPTARG ;; n) rss_requests=$OPTARG ;; B) build=0 ;;
    *) echo "usage: $0 [-c CONNECTIONS] [-d SECONDS] [-r ROUNDS] [-n RSS_REQUESTS] [-B]" >&2; exit 2 ;;
  esac
done
cd "$(git rev-parse --show-toplevel)"
. scripts/pinned.sh
pinned_apt wrk
[ "$build" = 1 ] && cargo build --release --quiet --bin tierbench --example bench_reference

# Servers on core 0, wrk on core 1 (when there are two cores and taskset).
server_pin=() load_pin=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then server_pin=(taskset -c 0); load_pin=(taskset -c 1); fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

wait_url() { # file -> URL printed by a server
  for _ in $(seq 1 200); do
    url=$(grep -o 'http://[0-9.:]*' "$1" 2>/dev/null | head -1 || true)
    [ -n "$url" ] && { echo "$url"; return; }
    sleep 0.05
  done
  echo "server did not start: $(cat "$1")" >&2; exit 3
}

"${server_pin[@]}" target/release/tierbench mock-stripe --port 0 --latency-scale 0 --spike-probability 0 \
  --no-rate-limits --customers 1000 --mutation-rate 0 >"$work/mock.out" 2>&1 &
mock_pid=$!; pids+=("$mock_pid")
mock_url=$(wait_url "$work/mock.out")

# The 100 newest customers; every request of a round cycles through them.
curl -fsS -H 'Authorization: Bearer sk_test_bench' "$mock_url/v1/customers?limit=100" \
  | python3 -c 'import json,sys; print("\n".join(c["id"] for c in json.load(sys.stdin)["data"]))' >"$work/ids"
size=$(curl -fsS -H 'Authorization: Bearer sk_test_bench' "$mock_url/v1/customers/$(head -1 "$work/ids")" | wc -c)

"${server_pin[@]}" target/release/examples/bench_reference 0 "$size" >"$work/ref.out" 2>&1 &
ref_pid=$!; pids+=("$ref_pid")
ref_url=$(wait_url "$work/ref.out")

{
  echo 'local paths = {'
  sed 's|.*|  "/v1/customers/&",|' "$work/ids"
  echo '}'
  echo 'local i = 0'
  echo 'request = function()'
  echo '  i = i % #paths + 1'
  echo '  return wrk.format("GET", paths[i], {["Authorization"] = "Bearer sk_test_bench"})'
  echo 'end'
} >"$work/cycle.lua"

run() { # url seconds -> requests/s
  "${load_pin[@]}" wrk -t1 -c"$connections" -d"$2"s -s "$work/cycle.lua" "$1" | awk '/Requests\/sec/ {print $2}'
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "body: $size bytes (GET /v1/customers/{id}, 100 ids); wrk -t1 -c$connections -d${duration}s; $rounds rounds; pinned: ${server_pin[*]:-no}"
rss_start=$(rss_kb "$mock_pid")
run "$mock_url" 2 >/dev/null; run "$ref_url" 2 >/dev/null # warm-up
mock_rates=() ref_rates=() ratios=()
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then
    m=$(run "$mock_url" "$duration"); f=$(run "$ref_url" "$duration")
  else
    f=$(run "$ref_url" "$duration"); m=$(run "$mock_url" "$duration")
  fi
  q=$(awk -v m="$m" -v f="$f" 'BEGIN {printf "%.3f", m / f}')
  mock_rates+=("$m"); ref_rates+=("$f"); ratios+=("$q")
  echo "round $r: mock $m req/s, reference $f req/s, ratio $q"
done
m_med=$(printf '%s\n' "${mock_rates[@]}" | median)
f_med=$(printf '%s\n' "${ref_rates[@]}" | median)
ratio=$(printf '%s\n' "${ratios[@]}" | median)
echo "median ratio $ratio (target >= 0.60); median rates: mock $m_med req/s, reference $f_med req/s"

# RSS across at least rss_requests more requests to the mock (wrk counts them).
rss_before=$(rss_kb "$mock_pid")
served=0
while [ "$served" -lt "$rss_requests" ]; do
  n=$("${load_pin[@]}" wrk -t1 -c"$connections" -d10s -s "$work/cycle.lua" "$mock_url" | awk '/requests in/ {print $1}')
  served=$((served + n))
done
rss_after=$(rss_kb "$mock_pid")
change=$(awk -v a="$rss_after" -v b="$rss_before" 'BEGIN {printf "%+.1f", (a - b) * 100 / b}')
echo "mock RSS: ${rss_start} kB at start, ${rss_before} kB after the rounds, ${rss_after} kB after ${served} more requests (${change} %, target within 10 %)"
echo "reference RSS: $(rss_kb "$ref_pid") kB"
