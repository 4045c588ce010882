# warden — the README's two commands are `make demo` and `make test`.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/warden
PKGS  := ./...

.PHONY: all build test unit e2e demo bench chaos lint redis redis-sentinel chromium iptables clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/warden

# redis-server from Debian's package: installed when missing and running as
# root, otherwise a message that says what to install.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-server (Debian package)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else \
	    echo "warden's demo and tests need redis-server: install Debian's package with 'sudo apt-get install redis-server'"; exit 1; \
	  fi; }
	@redis-server --version

redis-sentinel: redis
	@command -v redis-sentinel >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-sentinel (Debian package)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-sentinel >/dev/null; \
	  else \
	    echo "the benchmark compares with Redis Sentinel: install it with 'sudo apt-get install redis-sentinel'"; exit 1; \
	  fi; }

# Debian's chromium, for the operator's page's test in a headless browser
# (e2e TestUI): installed when missing and running as root, otherwise a
# message (the test is then skipped, except under CI).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (Debian package)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "the test of the operator's page needs Debian's chromium: install it with 'sudo apt-get install chromium' (skipped until then)"; \
	  fi; }
	@command -v chromium >/dev/null 2>&1 && chromium --version 2>/dev/null || true

# Debian's iptables, for the chaos tests that cut loopback traffic between
# the test's own 127.x.y.z addresses (e2e/chaos.go): installed when missing
# and running as root, otherwise a message (the chaos tests are then
# skipped).
iptables:
	@command -v iptables >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing iptables (Debian package)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null; \
	  else \
	    echo "the chaos tests cut loopback traffic with iptables, as root: install it with 'sudo apt-get install iptables' (skipped until then)"; \
	  fi; }
	@command -v iptables >/dev/null 2>&1 && iptables --version 2>/dev/null || true

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "not gofmt-clean:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Every test: unit, property, fuzz seeds, in-memory raft, and end-to-end
# against real redis-server and warden processes (and the operator's page in
# headless chromium), all with the race detector.
test: redis-sentinel chromium iptables lint
	$(GO) test -race -count=1 -timeout 25m $(PKGS)

unit: lint
	$(GO) test -race -count=1 ./config ./raftstore ./watchdog ./actions

e2e: redis chromium
	$(GO) test -race -count=1 -timeout 20m -v ./e2e

# A local sandbox: three Redis nodes and three watchdogs on loopback.
demo: redis build
	./$(BIN) demo

# Failover time side by side with Redis Sentinel (BENCHMARKS.md), Redis
# Cluster's recovery with and without warden, and adding a shard with warden
# and with redis-cli --cluster (node timeouts 1s and 5s), appended to it.
bench: redis-sentinel
	$(GO) test -tags bench -count=1 -timeout 60m -run '^TestFailoverBenchmark$$' -v ./e2e
	WARDEN_BENCH_OUT_CLUSTER=../BENCHMARKS.md $(GO) test -tags bench -count=1 -timeout 30m -run '^TestClusterFailoverBench$$' -v ./e2e
	WARDEN_BENCH_OUT_RESHARD=../BENCHMARKS.md WARDEN_BENCH_TRIALS=5 WARDEN_BENCH_RESHARD_NODE_TIMEOUT=1s $(GO) test -tags bench -count=1 -timeout 60m -run '^TestReshardBench$$' -v ./e2e
	WARDEN_BENCH_OUT_RESHARD=../BENCHMARKS.md WARDEN_BENCH_RESHARD_NODE_TIMEOUT=5s $(GO) test -tags bench -count=1 -timeout 60m -run '^TestReshardBench$$' -v ./e2e

# The chaos suite (RELIABILITY.md): the isolated master (with a failover and
# with a pinned client) and the master restarted empty, warden and Redis
# Sentinel side by side, several trials (WARDEN_CHAOS_TRIALS, default 3);
# every fault of the catalogue on its own; the flapping master; the leader
# killed at each failover step; a clock jump; then the randomized schedule:
# RUNS faults (default 20) drawn from SEED (default: drawn and printed;
# `make chaos RUNS=200 SEED=n` replays a schedule). Needs root for iptables.
RUNS ?= 20
SEED ?=
chaos: redis-sentinel iptables
	WARDEN_CHAOS_RUNS=$(RUNS) WARDEN_CHAOS_SEED=$(SEED) $(GO) test -tags chaos -count=1 -timeout 90m -run '^TestChaos' -v ./e2e

clean:
	rm -rf bin
