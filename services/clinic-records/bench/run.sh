#!/usr/bin/env bash
# The clinic-records benchmark table (issue #5), on free ports and a throw-away
# PostgreSQL 15 cluster of its own (tests/clinic-records/test_pg.sh), never the fixed
# ports of scripts/up:
#   1. seed 100,000 patients (ids 1..100000) with one INSERT ... generate_series;
#   2. reference: pgbench, prepared primary-key SELECT, 100 clients, same database;
#   3. GET /api/patients/:id through gateway + bus, 100 users closed loop (loadgen);
#      then pgbench again, so the ratio is bracketed by two references;
#   4. GET by id at a fixed 5,000 req/s, open loop (latency goal);
#   5. the five patient endpoints at each user count (default 100 500 1000 2000);
#   6. clinic-records RSS at start (beside rss-floor-clinic-records: its libraries alone),
#      and current / peak after the largest user count.
# Before each run every seeded patient is put back to version 1 and undeleted, so the
# PUT and DELETE scenarios (one seeded id each request, ${seq}) always succeed.
#
#   services/clinic-records/bench/run.sh [RESULTS_DIR] [USERS...]
# Env: BIN_DIR (build/bin), GATEWAY_THREADS (the gateway's default), PG_POOL (the service default),
#      SERVICE_FLAGS (more clinic-records flags, e.g. --pg-read-connections=4),
#      SECONDS_PGBENCH (10), SCENARIOS (list get create update delete),
#      SKIP_REFERENCE (set: skip steps 2-4), RATIO_ROUNDS (2: pgbench / loadgen pairs),
#      LOADGEN_FLAGS (more flags for every loadgen run: the smoke test's "--short --duration 1").
# Prints everything to stdout; loadgen's JSON and markdown land in RESULTS_DIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
bench_dir="$root/services/clinic-records/bench"
bin="${BIN_DIR:-$root/build/bin}"
results="${1:-/tmp/clinic-bench-results}"
shift || true
users_list=("$@")
[[ ${#users_list[@]} -gt 0 ]] || users_list=(100 500 1000 2000)
scenarios=(${SCENARIOS:-list get create update delete})
pgbench_seconds="${SECONDS_PGBENCH:-10}"
state="$(mktemp -d /tmp/clinic-bench.XXXXXX)"
mkdir -p "$results"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Two consecutive free ports: loadgen finds the gateway's /metrics at BASE, clinic-records' at BASE+1.
free_port_pair() {
  python3 - <<'PY'
import socket
for _ in range(200):
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError:
        pass
    finally:
        a.close(); b.close()
PY
}

pids=()
failed_runs=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$root/tests/clinic-records/test_pg.sh" stop "$state/pg" >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT

echo "== $(date -u +%FT%TZ) $(uptime)"
echo "== git $(git -C "$root" rev-parse --short HEAD), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"

"$root/tests/clinic-records/test_pg.sh" start "$state/pg"
uri="$(cat "$state/pg/uri")"
port="$(cat "$state/pg/port")"
admin="postgresql://postgres@127.0.0.1:$port/suite"
# 100 pgbench clients, then up to 2,000 users funnelled into the pool: the default 100
# connections are too few for the reference.
psql "$admin" -qc "ALTER SYSTEM SET max_connections = 300" -c "ALTER SYSTEM SET shared_buffers = '256MB'"
"$root/tests/clinic-records/test_pg.sh" restart "$state/pg"

bus="tcp://127.0.0.1:$(free_port)"
http_port="$(free_port)"
metrics_base="$(free_port_pair)"
# The gateway authenticates every /api request: one admin key for this run only, and no
# per-principal rate limit (its default, 1,000 req/s, would make the bench measure it).
minted="$("$bin/gateway" --mint-api-key=bench:default:admin)"
sed -n 2p <<<"$minted" >"$state/api-keys"
key_header="X-API-Key: $(sed -n 1p <<<"$minted")"
pool_flag=(${SERVICE_FLAGS:-})
[[ -n "${PG_POOL:-}" ]] && pool_flag+=("--pg-pool=$PG_POOL")
"$bin/clinic-records" --bus="$bus" --metrics="127.0.0.1:$((metrics_base + 1))" --pg="$uri" \
  "${pool_flag[@]}" --log-level=warn >"$state/clinic-records.log" 2>&1 &
service_pid=$!
pids+=("$service_pid")
"$bin/gateway" --http="127.0.0.1:$http_port" --metrics="127.0.0.1:$metrics_base" \
  --backend-clinic-records="$bus" --api-keys-file="$state/api-keys" --rate-limit=0 ${GATEWAY_THREADS:+--threads=$GATEWAY_THREADS} \
  --log-level=warn >"$state/gateway.log" 2>&1 &
gateway_pid=$!
pids+=("$gateway_pid")
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$http_port/api/sys/clinic-records/health" >/dev/null && break
  sleep 0.2
done
curl -fs "http://127.0.0.1:$http_port/api/sys/clinic-records/health" >/dev/null ||
  { cat "$state/clinic-records.log" "$state/gateway.log"; exit 1; }
rss_kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
# RSS counts every touched page of the shared libraries (libcaf, libpq and its TLS and
# Kerberos stack, libzmq...) in full; PSS shares them among the processes mapping them.
memory_line() {
  echo "RSS $(rss_kb "$1" VmRSS) kB (anonymous $(rss_kb "$1" RssAnon) kB, files $(rss_kb "$1" RssFile) kB)," \
       "PSS $(awk '$1 == "Pss:" {print $2}' "/proc/$1/smaps_rollup") kB"
}
echo "== clinic-records at start: $(memory_line "$service_pid")"
# The floor: a process that loads the same libraries and runs none of clinic-records' code.
echo "== $("$bin/rss-floor-clinic-records")"

started=$(date +%s.%N)
psql "$uri" -q <<'SQL'
INSERT INTO patients (clinic_number, first_name, last_name, date_of_birth, gender, phone, area,
                      next_of_kin_name, next_of_kin_phone, insurance_type, insurance_number)
SELECT 'BS-' || g, 'First' || g, 'Last' || g, date '1950-01-01' + g % 25000,
       (ARRAY['male', 'female'])[1 + g % 2], '+2547' || (10000000 + g),
       (ARRAY['Nairobi', 'Mombasa', 'Kisumu', 'Nakuru'])[1 + g % 4], 'Kin ' || g,
       '+2547' || (20000000 + g), (ARRAY['sha', 'private', 'cash'])[1 + g % 3], 'INS-' || g
  FROM generate_series(1, 100000) g;
VACUUM ANALYZE patients;
SQL
echo "== seeded $(psql "$uri" -Atc 'SELECT count(*) FROM patients') patients in $(echo "$(date +%s.%N) - $started" | bc) s"
echo "== clinic-records after seeding: $(memory_line "$service_pid")"

reset_patients() {
  psql "$uri" -qc "UPDATE patients SET version = 1, deleted_at = NULL
                   WHERE id <= 100000 AND (version <> 1 OR deleted_at IS NOT NULL)" \
       -c "VACUUM patients" >/dev/null
}

printf '\\set id random(1, 100000)\nSELECT * FROM patients WHERE id = :id;\n' >"$state/pk.sql"
run_pgbench() {
  echo "== pgbench -n -M prepared -c 100 -j 2 -T $pgbench_seconds -f pk.sql ($(uptime))"
  pgbench -n -M prepared -c 100 -j 2 -T "$pgbench_seconds" -f "$state/pk.sql" "$uri" 2>&1 |
    grep -E '^(tps|latency average|number of transactions actually)'
}
loadgen_run() {  # scenario [extra loadgen flags]
  local scenario="$1"
  shift
  reset_patients
  echo "== loadgen $scenario $* ($(uptime))"
  # clinic-records' RSS sampled from /proc every 200 ms while the run lasts.
  (while kill -0 "$service_pid" 2>/dev/null; do rss_kb "$service_pid" VmRSS; sleep 0.2; done) \
    >"$state/rss" &
  local sampler=$!
  "$bin/loadgen" run "$bench_dir/$scenario.json" --host 127.0.0.1 --port "$http_port" \
    --metrics-port-base "$metrics_base" --bin-dir "$bin" --results "$results" \
    --header "$key_header" ${LOADGEN_FLAGS:-} "$@" | grep -vE '^\s*$' || { echo "loadgen exited $?"; failed_runs+=("$scenario $*"); }
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  echo "== clinic-records RSS during $scenario $*: max $(sort -n "$state/rss" | tail -1) kB"
  kill -0 "$gateway_pid" 2>/dev/null || { echo "the gateway died:"; tail -20 "$state/gateway.log"; exit 1; }
  kill -0 "$service_pid" 2>/dev/null || { echo "clinic-records died:"; tail -20 "$state/clinic-records.log"; exit 1; }
}

if [[ -z "${SKIP_REFERENCE:-}" ]]; then
  # Alternate the reference and the suite, so both see the same (shared, noisy) machine.
  for round in $(seq "${RATIO_ROUNDS:-2}"); do
    run_pgbench
    loadgen_run clinic-get --users 100
    cp "$results/clinic-get.json" "$results/clinic-get-ratio-$round.json" 2>/dev/null || true
  done
  run_pgbench
  loadgen_run clinic-get-rate
fi
for users in "${users_list[@]}"; do
  for s in "${scenarios[@]}"; do
    loadgen_run "clinic-$s" --users "$users"
    cp "$results/clinic-$s.json" "$results/clinic-$s-$users.json" 2>/dev/null || true
  done
done
echo "== clinic-records after the runs: $(memory_line "$service_pid"), peak RSS $(rss_kb "$service_pid" VmHWM) kB"
echo "== done $(date -u +%FT%TZ) $(uptime)"
if [[ ${#failed_runs[@]} -gt 0 ]]; then
  printf '== failed: %s\n' "${failed_runs[@]}"
  exit 1
fi
