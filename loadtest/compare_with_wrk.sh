#!/usr/bin/env bash
# The load generator's own benchmark: loadgen against wrk on the same plain route
# (nginx `return 200` on a loopback port, from a temporary config), same connections,
# same duration, alternating runs. nginx is pinned to CPU 0 and the client to CPU 1
# (when there are two), so the two tools meet the same server under the same
# conditions. Prints each run and the medians of req/s, p50 and CPU per request, and
# p50 as a share of the closed-loop cycle (connections / req/s, Little's law): a tool
# whose latency covers the whole cycle shows about 1. wrk starts its clock when it
# writes, a turn of its event loop after the previous answer, so its share is lower
# (its mean, printed too, was 0.73-0.83 of the cycle in quiet runs on 2 cores): compare
# the shares, not only the p50s.
# usage: loadtest/compare_with_wrk.sh [CONNECTIONS] [SECONDS] [ROUNDS]
set -euo pipefail
connections="${1:-50}"
seconds="${2:-10}"
rounds="${3:-3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
loadgen="${LOADGEN:-$root/build/bin/loadgen}"
[[ -x "$loadgen" ]] || { echo "build loadgen first ($loadgen)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }

dir="$(mktemp -d)"
port=18080
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 100000000;
  server { listen 127.0.0.1:$port backlog=4096; location / { return 200 "ok\n"; } }
}
CONF
server_cpu=0
client_cpu=$(( $(nproc) > 1 ? 1 : 0 ))
taskset -c "$server_cpu" /usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir"
trap 'kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true; rm -rf "$dir"' EXIT
sleep 0.5
url="http://127.0.0.1:$port/"

# cpu_seconds FILE: user + system seconds from /usr/bin/time -f "%U %S".
cpu_seconds() { awk '{ print $1 + $2 }' "$1"; }
# to_ms VALUE: wrk's "183.00us" / "1.20ms" / "1.00s" in milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) print v / 1000; else if (v ~ /ms$/) print v + 0; else print v * 1000 }'; }

# share VALUE_MS RPS: VALUE_MS as a share of the cycle, connections / RPS.
share() { awk -v v="$1" -v r="$2" -v c="$connections" 'BEGIN { printf "%.3f", v / (c / r * 1000) }'; }

printf '%-8s %5s %12s %10s %14s %10s %11s\n' tool round req/s p50_ms cpu_us/req p50/cycle mean/cycle
wrk_rows=() loadgen_rows=()
for round in $(seq 1 "$rounds"); do
  /usr/bin/time -f "%U %S" -o "$dir/time" taskset -c "$client_cpu" \
    wrk -t1 -c"$connections" -d"${seconds}s" --latency "$url" >"$dir/out"
  rps=$(awk '/^Requests\/sec/ { print $2 }' "$dir/out")
  requests=$(awk '/requests in/ { print $1 }' "$dir/out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$dir/out")")
  cpu=$(awk -v c="$(cpu_seconds "$dir/time")" -v n="$requests" 'BEGIN { printf "%.3f", c / n * 1e6 }')
  mean=$(to_ms "$(awk '$1 == "Latency" { print $2; exit }' "$dir/out")")
  printf '%-8s %5s %12.0f %10.3f %14s %10s %11s\n' wrk "$round" "$rps" "$p50" "$cpu" \
    "$(share "$p50" "$rps")" "$(share "$mean" "$rps")"
  wrk_rows+=("$rps $p50 $cpu $(share "$p50" "$rps")")

  /usr/bin/time -f "%U %S" -o "$dir/time" taskset -c "$client_cpu" \
    "$loadgen" url "$url" -c "$connections" -t 1 -d "$seconds" >"$dir/out"
  requests=$(awk '/requests in/ { print $1 }' "$dir/out")
  rps=$(awk '/requests in/ { sub(":", "", $8); print $8 }' "$dir/out")
  p50=$(awk '/^ / && NF == 6 { print $1; exit }' "$dir/out")
  cpu=$(awk -v c="$(cpu_seconds "$dir/time")" -v n="$requests" 'BEGIN { printf "%.3f", c / n * 1e6 }')
  printf '%-8s %5s %12.0f %10.3f %14s %10s\n' loadgen "$round" "$rps" "$p50" "$cpu" \
    "$(share "$p50" "$rps")"
  loadgen_rows+=("$rps $p50 $cpu $(share "$p50" "$rps")")
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
column_median() { local col="$1"; shift; printf '%s\n' "$@" | awk -v c="$col" '{ print $c }' | median; }
w_rps=$(column_median 1 "${wrk_rows[@]}") w_p50=$(column_median 2 "${wrk_rows[@]}") w_cpu=$(column_median 3 "${wrk_rows[@]}")
l_rps=$(column_median 1 "${loadgen_rows[@]}") l_p50=$(column_median 2 "${loadgen_rows[@]}") l_cpu=$(column_median 3 "${loadgen_rows[@]}")
w_share=$(column_median 4 "${wrk_rows[@]}") l_share=$(column_median 4 "${loadgen_rows[@]}")
echo
printf 'medians over %s rounds, %s connections, %s s each:\n' "$rounds" "$connections" "$seconds"
printf '  req/s       wrk %10.0f  loadgen %10.0f  loadgen/wrk %.3f\n' "$w_rps" "$l_rps" "$(awk -v a="$l_rps" -v b="$w_rps" 'BEGIN { print a / b }')"
printf '  p50 ms      wrk %10.3f  loadgen %10.3f  loadgen/wrk %.3f\n' "$w_p50" "$l_p50" "$(awk -v a="$l_p50" -v b="$w_p50" 'BEGIN { print a / b }')"
printf '  CPU us/req  wrk %10.3f  loadgen %10.3f  loadgen/wrk %.3f\n' "$w_cpu" "$l_cpu" "$(awk -v a="$l_cpu" -v b="$w_cpu" 'BEGIN { print a / b }')"
printf '  p50/cycle   wrk %10.3f  loadgen %10.3f  (cycle = %s connections / req/s)\n' "$w_share" "$l_share" "$connections"
