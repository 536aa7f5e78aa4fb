#!/bin/sh
# Prints the Debian packages that hold the shared libraries the given binaries load,
# one per line. The Dockerfile's runtime stage installs exactly these, so its package
# list follows the build instead of going stale when a service gains a library.
set -eu
for binary in "$@"; do
  ldd "$binary" | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  # bookworm merges /lib into /usr/lib, but dpkg records each file under the path its
  # package shipped it at; try the path as ldd printed it, then the other spelling.
  real=$(realpath "$lib")
  for path in "$lib" "$real" "/usr$lib" "${real#/usr}"; do
    if owner=$(dpkg -S "$path" 2>/dev/null); then
      echo "${owner%%:*}"
      break
    fi
  done
done | sort -u
