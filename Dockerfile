# peerchain's container image: a static binary (cgo libsecp256k1 linked in)
# on an empty base, running as a non-root user with its data dir as a
# volume. Needs a registry with golang:1.26-bookworm. Without one, `make
# image` builds the same final stage from a binary built on the host
# (deploy/container/Containerfile.prebuilt); deploy/deploy_test keeps the
# two final stages identical.
#
#   docker build -t peerchain .
#   docker run -p 127.0.0.1:8545:8545 -v peerchain:/data peerchain node --mine --miner.coinbase 0x…

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# netgo and osusergo: Go's own DNS resolver and user lookup, so that glibc's
# NSS is not needed at run time; -extldflags -static links libsecp256k1 and
# the C runtime into the binary.
RUN CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo \
      -ldflags '-s -w -linkmode external -extldflags "-static"' \
      -o /image/peerchain ./cmd/peerchain \
 && /image/peerchain version \
 && mkdir -p /image/data /image/etc \
 && cp deploy/container/passwd deploy/container/group /image/etc/

# --- final stage: identical in deploy/container/Containerfile.prebuilt ---
FROM scratch
COPY --from=build /image/etc/passwd /image/etc/group /etc/
COPY --from=build --chown=65532:65532 /image/data /data
COPY --from=build /image/peerchain /peerchain
USER 65532:65532
VOLUME /data
# JSON-RPC (HTTP and WebSocket, /health, /metrics, the web UI); P2P TCP and QUIC.
EXPOSE 8545/tcp 30333/tcp 30333/udp
# The RPC must listen beyond the container's loopback to be reached, which
# the node allows only as a public provider (no accounts, no admin_, rate
# limits); the Host check guards the local signing API a provider does not
# serve, so any name is answered.
ENV PEERCHAIN_DATADIR=/data \
    PEERCHAIN_RPC=0.0.0.0:8545 \
    PEERCHAIN_PROVIDER=true \
    PEERCHAIN_RPC_VHOSTS=* \
    PEERCHAIN_P2P=/ip4/0.0.0.0/tcp/30333,/ip4/0.0.0.0/udp/30333/quic-v1
HEALTHCHECK --interval=15s --timeout=6s --start-period=60s CMD ["/peerchain", "health"]
ENTRYPOINT ["/peerchain"]
CMD ["node"]
