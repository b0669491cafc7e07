#!/usr/bin/env bash
# Runs every fuzz target for a bounded time each: the wire decoders and
# handlers a peer exposes (gossip, requests, responses, stream frames), the
# chain's block import, the RPC's requests and filters, the genesis parser.
#   scripts/fuzz.sh [TIME per target, default 10s]
# A failure leaves its input under the package's testdata/fuzz and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-10s}
targets=(
  ./internal/sync:FuzzGossipBlock
  ./internal/sync:FuzzGossipTx
  ./internal/sync:FuzzRequests
  ./internal/sync:FuzzResponses
  ./internal/p2p:FuzzReadFrame
  ./internal/chain:FuzzInsertBlock
  ./internal/rpc:FuzzRequests
  ./internal/rpc:FuzzFilterQuery
  ./internal/params:FuzzParseGenesis
)
for t in "${targets[@]}"; do
  pkg=${t%%:*} name=${t##*:}
  echo "== $pkg $name ($time)"
  # Minimizing a new input can take a minute of a short run: keep it short.
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" -fuzzminimizetime 2s "$pkg" 2>&1 | grep -v '^fuzz: elapsed' || { echo "FAIL: $pkg $name"; exit 1; }
done
