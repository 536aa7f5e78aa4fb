# Shared by the scripts in this folder: paths, the suite's processes and ports, and
# small helpers. Sourced, never run.
SUITE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUITE_BUILD="${SUITE_BUILD:-$SUITE_ROOT/build}"
SUITE_VAR="${SUITE_VAR:-$SUITE_ROOT/var}"
SUITE_JOBS="${SUITE_JOBS:-$(nproc)}"

# The backends, in start order, then the gateway (design.md, "Default ports").
SUITE_SERVICES=(clinic-records chat-cache event-ingest rem-store)
SUITE_GATEWAY_PORT=8080
SUITE_PG_PORT=55432
SUITE_PORTS=(8080 9100 9101 9102 9103 9104 5551 5552 5553 5554 5563 11434)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# as_root CMD...: runs CMD as root (directly when we are root, else through sudo).
as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# port_taken PORT: true when something on 127.0.0.1 accepts connections on PORT.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# set_api_key_args: fills the array API_KEY_ARGS with loadgen's
# (--header "X-API-Key: KEY") when scripts/up wrote a development key to
# var/dev-api-key, and leaves it empty otherwise. Use it as "${API_KEY_ARGS[@]}".
set_api_key_args() {
  API_KEY_ARGS=()
  local key_file="$SUITE_VAR/dev-api-key"
  if [[ -s "$key_file" ]]; then
    API_KEY_ARGS=(--header "X-API-Key: $(tr -d '\r\n' <"$key_file")")
  fi
}

# run_nginx DIR HTTP_LINES: an nginx of its own under DIR (config, pid, logs) on the
# first free loopback port from 18089, with HTTP_LINES inside its http block (@PORT@
# written where the port goes). Prints the port; stop_reference_nginx DIR stops it.
run_nginx() {
  local dir="$1" port=18089
  while port_taken "$port"; do port=$((port + 1)); done
  cat >"$dir/nginx.conf" <<CONF
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
  access_log off;
${2//@PORT@/$port}
}
CONF
  nginx -c "$dir/nginx.conf" -p "$dir" || return 1
  echo "$port"
}

# start_reference_nginx DIR: serves DIR/www as static files (health.json: a body the
# size of a backend's sys.health reply), for load scenarios with a "reference".
start_reference_nginx() {
  local dir="$1"
  mkdir -p "$dir/www"
  printf '{"status":"ok","service":"reference","uptime_s":12.345}' >"$dir/www/health.json"
  # nginx's workers drop root: they must be able to read the files (mktemp -d is 0700).
  chmod 755 "$dir" "$dir/www"
  chmod 644 "$dir/www/health.json"
  run_nginx "$dir" "  default_type application/json;
  server { listen 127.0.0.1:@PORT@; root $dir/www; }"
}

# start_nginx_returning DIR BODY_FILE: answers every request, any method and path, with
# 200 and BODY_FILE's bytes from memory ("return 200", nginx's fastest path; the
# reference of bench-gateway and chat-cache's hit_bench).
start_nginx_returning() {
  local body
  # In nginx's quoted text, ' and \ are escaped and $ would start a variable.
  body=$(sed -e 's/[\\'"'"']/\\&/g' -e 's/\$/${dollar}/g' "$2")
  run_nginx "$1" "  geo \$dollar { default \"\$\"; }
  server {
    listen 127.0.0.1:@PORT@;
    location / { default_type application/json; return 200 '$body'; }
  }"
}

stop_reference_nginx() {
  [[ -f "$1/nginx.pid" ]] && kill "$(cat "$1/nginx.pid")" 2>/dev/null
  rm -rf "$1"
}

# build_suite: configures (once) and builds the Release tree.
build_suite() {
  if [[ ! -f "$SUITE_BUILD/build.ninja" ]]; then
    cmake -S "$SUITE_ROOT" -B "$SUITE_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  cmake --build "$SUITE_BUILD" -j "$SUITE_JOBS"
}
