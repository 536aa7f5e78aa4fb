# The suite's own PostgreSQL 15 cluster for the local run and the tests: initdb on
# first use, start, stop. Runs the server as the postgres user when we are root
# (PostgreSQL refuses to run as root). Sourced after lib.sh, never run.
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

# pg_data_dir: var/pg under the checkout, or a folder under /var/tmp when the
# postgres user cannot reach the checkout (e.g. a checkout under /root).
pg_data_dir() {
  if [[ $(id -u) -eq 0 ]] && ! runuser -u postgres -- test -x "$SUITE_VAR" 2>/dev/null; then
    echo "/var/tmp/suite-pg-$(echo "$SUITE_ROOT" | md5sum | cut -c1-8)"
  else
    echo "$SUITE_VAR/pg"
  fi
}

pg_run() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_up PORT: initdb if needed, start, and create the role and database "suite".
pg_up() {
  local port="$1" data
  data="$(pg_data_dir)"
  mkdir -p "$SUITE_VAR/log"
  if [[ ! -f "$data/PG_VERSION" ]]; then
    mkdir -p "$data"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$data"
    # Local development cluster: trust on loopback only, listening on 127.0.0.1.
    pg_run "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if ! pg_run "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    pg_run "$PG_BIN/pg_ctl" -D "$data" -w -t 30 -l "$data/server.log" \
      -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null
  fi
  pg_run "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "select 1 from pg_roles where rolname='suite'" |
    grep -q 1 || pg_run "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "create role suite login createdb"
  pg_run "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "select 1 from pg_database where datname='suite'" |
    grep -q 1 || pg_run "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "create database suite owner suite"
}

pg_down() {
  local data
  data="$(pg_data_dir)"
  [[ -f "$data/PG_VERSION" ]] || return 0
  pg_run "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}
