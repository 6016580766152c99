#!/usr/bin/env bash
# Fails when a generated file is stale or a non-Go source is unformatted.
# Each generator registers a check here.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
if ! go mod tidy -diff >/dev/null 2>&1; then
  echo "check: go.mod/go.sum are not tidy (run go mod tidy)"; status=1
fi
# The provider docs are generated from its schema (make docs).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -d provider/docs ]; then
  if ! go run ./cmd/provider-docs -out "$tmp/docs" || ! diff -r "$tmp/docs" provider/docs >/dev/null; then
    echo "check: provider docs are stale (run make docs)"; status=1
  fi
fi
# Terraform files must be formatted (terraform is installed by deps.sh).
if command -v terraform >/dev/null 2>&1; then
  for d in terraform provider/examples; do
    if [ -d "$d" ] && ! terraform fmt -check -recursive "$d" >/dev/null 2>&1; then
      echo "check: terraform files in $d are not formatted (run terraform fmt -recursive $d)"; status=1
    fi
  done
fi
exit $status
