#!/usr/bin/env bash
# memory_bench.sh: chat-cache's RSS idle and holding N cached answers of ~2 KB.
# Starts fake-llm (300 tokens ≈ 2 KB answers), chat-cache and the gateway, fills the
# cache with N distinct prompts through the gateway (wrk, each request a new prompt),
# and prints RSS against the payload bytes (the answers as a client receives them).
# Usage: services/chat-cache/bench/memory_bench.sh [build_dir=build] [entries=100000]
set -euo pipefail
build=${1:-build}
entries=${2:-100000}
bin="$build/bin"
base=$((20000 + RANDOM % 20000))
fake=$base; bus=$((base + 1)); http=$((base + 2)); gm=$((base + 3)); cm=$((base + 4))
work=$(mktemp -d)
cleanup() { for p in ${pids:-}; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
"$bin/fake-llm" --listen=127.0.0.1:$fake --tokens=300 >"$work/fake.log" 2>&1 & pids="$!"
"$bin/chat-cache" --bus=tcp://127.0.0.1:$bus --metrics=127.0.0.1:$cm --llm=http://127.0.0.1:$fake \
  --cache-max-bytes=$((entries * 4096)) --cache-max-entries=$((entries * 2)) >"$work/cache.log" 2>&1 & cache_pid=$!
pids="$pids $cache_pid"
# An API key for this run (docs/security.md); no rate limit, so wrk measures the cache.
"$bin/gateway" --mint-api-key=bench:default:admin 2>/dev/null >"$work/minted"
key=$(sed -n 1p "$work/minted"); sed -n 2p "$work/minted" >"$work/keys"
export BENCH_API_KEY="$key"  # read by fill.lua
"$bin/gateway" --http=127.0.0.1:$http --metrics=127.0.0.1:$gm --backend-chat-cache=tcp://127.0.0.1:$bus --api-keys-file="$work/keys" --rate-limit=0 >"$work/gw.log" 2>&1 & pids="$pids $!"
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$http/api/sys/chat-cache/health" && break
  sleep 0.05
done
sleep 1
echo "idle RSS: $(grep VmRSS /proc/$cache_pid/status | awk '{print $2}') kB"
payload=$(curl -s -H "X-API-Key: $key" -X POST -d '{"model":"fake","stream":false,"prompt":"size probe"}' "http://127.0.0.1:$http/api/generate" | wc -c)
# Each wrk run gets its own FILL_RUN, so its prompts are new: Lua's math.random starts from
# the same seed in every run, and prompts made from it repeated the earlier runs' (all
# hits), so the cache stopped growing long before 100,000 entries.
cat >"$work/fill.lua" <<'LUA'
counter = 0
run = os.getenv("FILL_RUN")
request = function()
  counter = counter + 1
  local body = '{"model":"fake","stream":false,"prompt":"prompt ' .. run .. '-' .. counter .. '"}'
  return wrk.format("POST", "/api/generate", {["Content-Type"] = "application/json", ["X-API-Key"] = os.getenv("BENCH_API_KEY")}, body)
end
LUA
start=$(date +%s)
run=0
while :; do
  n=$(curl -s -H "X-API-Key: $key" "http://127.0.0.1:$http/api/cache/stats" | sed -E 's/.*"entries":([0-9]+).*/\1/')
  [ "$n" -ge "$entries" ] && break
  run=$((run + 1))
  FILL_RUN=$run wrk -t1 -c32 -d2s -s "$work/fill.lua" "http://127.0.0.1:$http/api/generate" >/dev/null
done
sleep 1
stats=$(curl -s -H "X-API-Key: $key" "http://127.0.0.1:$http/api/cache/stats")
n=$(echo "$stats" | sed -E 's/.*"entries":([0-9]+).*/\1/')
rss=$(grep VmRSS /proc/$cache_pid/status | awk '{print $2}')
echo "filled in $(( $(date +%s) - start )) s; $stats"
echo "entries: $n, answer: $payload bytes, payload: $(( n * payload / 1024 )) kB, RSS: $rss kB"
echo "RSS / payload: $(awk -v r=$rss -v n=$n -v p=$payload 'BEGIN{printf "%.2f", r*1024/(n*p)}'); goal: RSS <= 1.3 x payload + 20 MB = $(( n * payload * 13 / 10 / 1024 + 20480 )) kB"
