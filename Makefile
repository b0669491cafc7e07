# peerchain — build and test entry points. `make test` installs everything the
# tests need (Debian packages, npm packages) and runs every test.
GO        ?= go
PKGS      := ./...
export CGO_ENABLED := 1

.PHONY: all build test deps unit race vet fmt e2e fuzz-ci fuzz crash bench clean ui ui-check static image sim sim-small

all: build

build:
	$(GO) build -o bin/peerchain ./cmd/peerchain

deps:
	./scripts/install-deps.sh

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -timeout 20m $(PKGS)

e2e: build
	PEERCHAIN_BIN=$(CURDIR)/bin/peerchain $(GO) test -tags e2e -count=1 -timeout 20m ./test/e2e/...

# Every fuzz target for a bounded time each (part of make test), and the
# long campaign (FUZZTIME per target; not part of make test).
FUZZTIME ?= 10m
fuzz-ci:
	./scripts/fuzz.sh 10s

fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

# The web UI (web/, TypeScript + React + Vite) is built into internal/ui/dist,
# which is committed so that go build needs no npm; ui-check rebuilds it and
# fails if the committed bundle differs from the sources.
ui:
	cd web && npm run build --silent

ui-check: ui
	@out=$$(git status --porcelain -- internal/ui/dist); if [ -n "$$out" ]; then echo "internal/ui/dist differs from a fresh build of web/ (run make ui and commit it):"; echo "$$out"; exit 1; fi

test: deps ui-check fmt vet build unit sim-small fuzz-ci e2e

# The long crash campaign (not part of make test, which kills 12 times): a
# mining peer that syncs from another and takes transactions is killed with
# SIGKILL CRASH_KILLS times at random instants.
CRASH_KILLS ?= 100
crash: build
	CRASH_KILLS=$(CRASH_KILLS) PEERCHAIN_BIN=$(CURDIR)/bin/peerchain $(GO) test -tags e2e -count=1 -v -run '^TestCrashRecovery$$' -timeout 120m ./test/e2e/

# The simulation's small scenarios (50 and 40 peers in virtual time, about
# a minute): part of make test, without the race detector, under which
# they take many minutes (internal/sim/small_test.go; make unit races the
# harness on two peers).
sim-small:
	$(GO) test -count=1 -timeout 15m -run 'TestSmallScenario|TestPartitionHeals' ./internal/sim/

# The large simulation scenarios (up to 1,000 peers; hours on 2 cores):
# each run's summary goes to bench/sim/runs, then bench/sim/report.md and
# the SVG plots are written from every saved run. SIM_ONLY (a regexp of
# scenario names) runs some of them.
SIM_ONLY ?=
sim:
	GOMEMLIMIT=16GiB $(GO) test -count=1 -timeout 600m -v -run '^TestSimScenarios$$' ./internal/sim/ -sim.full -sim.only '$(SIM_ONLY)'

# Benchmarks print ratios against baselines measured in the same run; the
# RPC benchmark uses wrk as load generator when it is installed (Debian's
# wrk) and installs Anvil from npm to compare with.
bench: build
	command -v wrk >/dev/null || (apt-get install -y -qq wrk || (apt-get update -qq && apt-get install -y -qq wrk)) || true
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./bench/...

# The container image (README "Containers"): a static binary built here
# (cgo libsecp256k1 and libc linked in), then the Dockerfile's final stage
# over it (deploy/container/Containerfile.prebuilt, FROM scratch: nothing is
# pulled). The Dockerfile itself builds the same image where a registry is
# reachable. Not part of make test; test/e2e's TestContainerNetwork builds
# and runs the image when podman works.
IMAGE     ?= localhost/peerchain:latest
CONTAINER ?= $(shell command -v podman || command -v docker)
static:
	$(GO) build -trimpath -tags netgo,osusergo -ldflags '-s -w -linkmode external -extldflags "-static"' -o bin/peerchain-static ./cmd/peerchain

image: static
	rm -rf bin/image && mkdir -p bin/image/etc bin/image/data
	cp bin/peerchain-static bin/image/peerchain
	cp deploy/container/passwd deploy/container/group bin/image/etc/
	$(CONTAINER) build $(if $(findstring podman,$(CONTAINER)),--format docker) -f deploy/container/Containerfile.prebuilt -t $(IMAGE) bin/image

clean:
	rm -rf bin
