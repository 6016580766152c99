#!/usr/bin/env bash
# Fails when a generated file is stale or a non-Go source is unformatted.
# Each generator registers a check here.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
if ! go mod tidy -diff >/dev/null 2>&1; then
  echo "check: go.mod/go.sum are not tidy (run go mod tidy)"; status=1
fi
# Terraform files must be formatted (terraform is installed by deps.sh).
if command -v terraform >/dev/null 2>&1; then
  if ! terraform fmt -check -recursive terraform >/dev/null 2>&1; then
    echo "check: terraform files are not formatted (run terraform fmt -recursive terraform)"; status=1
  fi
fi
exit $status
