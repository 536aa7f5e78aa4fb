#!/bin/sh
# Runs one promtool subcommand for ctest, skipping (exit 77) only when promtool,
# which Debian's prometheus package ships, is not installed.
if ! command -v promtool >/dev/null 2>&1; then
  echo "SKIP: promtool not found (apt-get install prometheus)"
  exit 77
fi
exec promtool "$@"
