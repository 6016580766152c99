#!/usr/bin/env bash
# Runs every Fuzz* target in the module for the given time each, and lists
# the targets that failed at the end. A finding is saved under the
# package's testdata/fuzz/ by go test; commit it as a regression seed.
set -uo pipefail
cd "$(dirname "$0")/.."
t=${1:-10s}
failed=()
for pkg in $(go list ./...); do
  for f in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "fuzz: $pkg $f ($t)"
    go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg" || failed+=("$pkg $f")
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz: failed: %s\n' "${failed[@]}"
  exit 1
fi
