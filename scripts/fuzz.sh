#!/usr/bin/env bash
# Runs every fuzz target for a bounded time each: the wire decoders and
# handlers a peer exposes (gossip, requests, responses, stream frames), the
# chain's block import, the RPC's requests and filters, the genesis parser.
#   scripts/fuzz.sh [TIME per target, default 10s]
# FUZZ_PARALLEL sets the fuzzing workers per target (default: one per CPU).
# Each target prints its last progress line (executions, corpus size). A
# failure leaves its input under the package's testdata/fuzz and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-10s}
parallel=()
if [ -n "${FUZZ_PARALLEL:-}" ]; then parallel=(-parallel "$FUZZ_PARALLEL"); fi
targets=(
  ./internal/sync:FuzzGossipBlock
  ./internal/sync:FuzzCompactBlock
  ./internal/sync:FuzzGossipTx
  ./internal/sync:FuzzRequests
  ./internal/sync:FuzzResponses
  ./internal/p2p:FuzzReadFrame
  ./internal/chain:FuzzInsertBlock
  ./internal/rpc:FuzzRequests
  ./internal/rpc:FuzzFilterQuery
  ./internal/rpc:FuzzFastPath
  ./internal/params:FuzzParseGenesis
)
for t in "${targets[@]}"; do
  pkg=${t%%:*} name=${t##*:}
  echo "== $pkg $name ($time)"
  out=$(mktemp)
  # Minimizing a new input can take a minute of a short run: keep it short.
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" -fuzzminimizetime 2s "${parallel[@]}" "$pkg" >"$out" 2>&1; then
    grep -v '^fuzz: elapsed' "$out"
    rm -f "$out"
    echo "FAIL: $pkg $name"
    exit 1
  fi
  grep '^fuzz: elapsed' "$out" | tail -1
  rm -f "$out"
done
