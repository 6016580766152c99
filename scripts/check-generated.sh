#!/usr/bin/env bash
# Fails when a generated file is stale. Each generator registers a check here.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
if ! go mod tidy -diff >/dev/null 2>&1; then
  echo "check: go.mod/go.sum are not tidy (run go mod tidy)"; status=1
fi
exit $status
