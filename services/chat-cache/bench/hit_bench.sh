#!/usr/bin/env bash
# hit_bench.sh: cached-hit throughput and latency of chat-cache through the gateway,
# next to nginx serving the same answer bytes under the same load (issue #6's reference).
# Starts fake-llm, chat-cache and the gateway from build/bin on free-ish high ports,
# caches one answer (~2 KB with the default 300 tokens), then drives
# POST /api/chat (stream false) with wrk, closed loop, at each connection count given,
# alternating nginx and the suite. Exits non-zero when the answer is not cached.
# Usage: services/chat-cache/bench/hit_bench.sh [build_dir=build] [seconds=10] [connections="64 1000"]
set -euo pipefail
source "$(dirname "$0")/../../../scripts/lib.sh"
build=${1:-build}
seconds=${2:-10}
conns=${3:-"64 1000"}
bin="$build/bin"
base=$((20000 + RANDOM % 20000))
fake=$base; bus=$((base + 1)); http=$((base + 2)); gm=$((base + 3)); cm=$((base + 4))
work=$(mktemp -d)
cleanup() { for p in ${pids:-}; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
"$bin/fake-llm" --listen=127.0.0.1:$fake --tokens=300 >"$work/fake.log" 2>&1 & pids="$!"
"$bin/chat-cache" --bus=tcp://127.0.0.1:$bus --metrics=127.0.0.1:$cm --llm=http://127.0.0.1:$fake >"$work/cache.log" 2>&1 & pids="$pids $!"
# An API key for this run (docs/security.md); no rate limit, so wrk measures the cache.
"$bin/gateway" --mint-api-key=bench:default:admin 2>/dev/null >"$work/minted"
key=$(sed -n 1p "$work/minted"); sed -n 2p "$work/minted" >"$work/keys"
"$bin/gateway" --http=127.0.0.1:$http --metrics=127.0.0.1:$gm --backend-chat-cache=tcp://127.0.0.1:$bus --api-keys-file="$work/keys" --rate-limit=0 >"$work/gw.log" 2>&1 & pids="$pids $!"
body='{"model":"fake","stream":false,"messages":[{"role":"user","content":"benchmark me"}]}'
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$http/api/sys/chat-cache/health" && break
  sleep 0.05
done
curl -sf -H "X-API-Key: $key" -X POST -d "$body" "http://127.0.0.1:$http/api/chat" >/dev/null || true  # the miss
if ! curl -sf -H "X-API-Key: $key" -D "$work/head" -o "$work/answer.json" -X POST -d "$body" \
  "http://127.0.0.1:$http/api/chat" || ! grep -qi "^x-cache: HIT" "$work/head"; then
  echo "hit_bench: the answer was not served from the cache; logs:" >&2
  cat "$work/gw.log" "$work/cache.log" >&2
  exit 1
fi
echo "cached answer: $(wc -c <"$work/answer.json") bytes; X-Cache: HIT"

# nginx returning the same bytes from memory (scripts/lib.sh).
if command -v nginx >/dev/null; then
  mkdir "$work/nginx"
  nginx_port=$(start_nginx_returning "$work/nginx" "$work/answer.json")
  pids="$pids $(sleep 0.3; cat "$work/nginx/nginx.pid")"
  cmp -s <(curl -s -X POST -d "$body" "http://127.0.0.1:$nginx_port/api/chat") "$work/answer.json" ||
    { echo "hit_bench: nginx does not return the same bytes" >&2; exit 1; }
else
  echo "nginx not installed: no reference (scripts/setup installs nginx-light)"
fi
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "$key"
LUA
rps() { awk '/Requests\/sec/{printf "%d", $2}' "$1"; }
for c in $conns; do
  echo "--- $c connections, ${seconds}s, closed loop"
  wrk -t2 -c"$c" -d"${seconds}s" --latency -s "$work/post.lua" "http://127.0.0.1:$http/api/chat" | tee "$work/suite.out" | grep -E "Requests/sec|Latency|50%|90%|99%|requests in|Non-2xx|Socket errors"
  if [ -f "$work/nginx/nginx.pid" ]; then
    wrk -t2 -c"$c" -d"${seconds}s" -s "$work/post.lua" "http://127.0.0.1:$nginx_port/api/chat" >"$work/nginx.out"
    awk -v s="$(rps "$work/suite.out")" -v n="$(rps "$work/nginx.out")" \
      'BEGIN{printf "suite %d req/s, nginx (same bytes) %d req/s: ratio %.2f (goal >= 0.5)\n", s, n, s/n}'
  fi
done
curl -s -H "X-API-Key: $key" "http://127.0.0.1:$http/api/cache/stats"; echo
echo "chat-cache RSS: $(grep VmRSS /proc/$(echo $pids | cut -d' ' -f2)/status)"
