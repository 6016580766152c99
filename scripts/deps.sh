#!/usr/bin/env bash
# Installs what Tollgate's local stack and tests need beyond Go and Node.js:
# dynalite (pinned in package-lock.json) into ./node_modules, and terraform
# when none is on PATH. Safe to run again: it does nothing when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "deps: $1 is required ($2)" >&2; exit 1; }; }
need go "https://go.dev/dl/"
need node "Node.js 18 or newer"
need npm "comes with Node.js"

if [ ! -f node_modules/dynalite/cli.js ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "deps: installing dynalite with npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

if ! command -v terraform >/dev/null 2>&1; then
  gobin="$(go env GOPATH)/bin"
  if [ ! -x "$gobin/terraform" ]; then
    echo "deps: installing terraform v1.5.7 with go install (takes a few minutes)"
    go install github.com/hashicorp/terraform@v1.5.7
  fi
fi
