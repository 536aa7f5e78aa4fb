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

# build_suite: configures (once) and builds the Release tree.
build_suite() {
  if [[ ! -f "$SUITE_BUILD/build.ninja" ]]; then
    cmake -S "$SUITE_ROOT" -B "$SUITE_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  cmake --build "$SUITE_BUILD" -j "$SUITE_JOBS"
}
