#!/usr/bin/env bash
# The rss-floor binaries stay floors: each loads exactly the shared objects of the binary
# it stands for (or, where noted, a subset of them), so its RSS is a lower bound of that
# binary's. Fails when a library is added to a service and not to its floor, or the
# other way round, and when a floor binary does not print its line.
#   tests/common/rss_floor_libraries.sh BIN_DIR
set -euo pipefail
bin="${1:?usage: rss_floor_libraries.sh BIN_DIR}"
failed=0

libraries() { ldd "$bin/$1" | awk '$1 !~ /^linux-vdso/ { print $1 }' | sort -u; }

# check FLOOR BINARY same|subset
check() {
  local floor="rss-floor-$1" binary="$2" relation="$3"
  local floor_list binary_list only_floor only_binary
  floor_list="$(libraries "$floor")"
  binary_list="$(libraries "$binary")"
  only_floor="$(comm -23 <(echo "$floor_list") <(echo "$binary_list") | tr '\n' ' ')"
  only_binary="$(comm -13 <(echo "$floor_list") <(echo "$binary_list") | tr '\n' ' ')"
  if [[ -n "$only_floor" ]]; then
    echo "FAIL: $floor loads what $binary does not: $only_floor"
    failed=1
  elif [[ "$relation" == same && -n "$only_binary" ]]; then
    echo "FAIL: $binary loads what $floor does not: $only_binary"
    failed=1
  else
    local as="loads the same shared objects as"
    [[ "$relation" == subset ]] && as="loads a subset of the shared objects of"
    echo "ok: $floor $as $binary"
  fi
}

check gateway gateway same
check service chat-cache subset
check clinic-records clinic-records same
check rocksdb event-ingest same
check rocksdb rem-store subset

for floor in gateway service clinic-records rocksdb; do
  line="$("$bin/rss-floor-$floor")"
  if [[ "$line" =~ ^rss-floor-$floor:\ RSS\ [1-9][0-9]*\ kB\ \(anonymous\ [0-9]+\ kB\),\ PSS\ [0-9]+\ kB,\ [1-9][0-9]*\ shared\ objects$ ]]; then
    echo "ok: $line"
  else
    echo "FAIL: rss-floor-$floor printed: $line"
    failed=1
  fi
done
exit "$failed"
