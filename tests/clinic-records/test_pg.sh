#!/usr/bin/env bash
# A throw-away PostgreSQL 15 cluster for the clinic-records tests, with the same start
# logic as the local run (scripts/pg.sh): initdb in a temp folder, listen on a free
# port on 127.0.0.1, role and database "suite". Runs the server as the postgres user
# when we are root, as CI does.
#   test_pg.sh start STATE   writes STATE/uri (libpq URI) and STATE/port
#   test_pg.sh restart STATE stop and start the same cluster (fast shutdown)
#   test_pg.sh stop STATE    stops it and removes the temp folder
set -euo pipefail
command="$1"
state="$2"
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/../../scripts/pg.sh"

use_cluster() {
  # pg.sh keeps its cluster in $SUITE_VAR/pg; point it at our temp folder.
  SUITE_VAR="$(cat "$state/var")"
  SUITE_ROOT="$SUITE_VAR"
}

case "$command" in
  start)
    mkdir -p "$state"
    [[ -f "$state/var" ]] && "$0" stop "$state"
    var="$(mktemp -d /tmp/clinic-test-pg.XXXXXX)"
    chmod 755 "$var"
    echo "$var" >"$state/var"
    use_cluster
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    pg_up "$port"
    echo "$port" >"$state/port"
    echo "postgresql://suite@127.0.0.1:$port/suite" >"$state/uri"
    ;;
  restart)
    use_cluster
    pg_down
    pg_up "$(cat "$state/port")"
    ;;
  stop)
    [[ -f "$state/var" ]] || exit 0
    use_cluster
    pg_down
    rm -rf "$SUITE_VAR" "$state/var" "$state/uri" "$state/port"
    ;;
  *) echo "usage: $0 start|restart|stop STATE_DIR" >&2; exit 2 ;;
esac
