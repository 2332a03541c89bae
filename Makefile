# rehearse: rehearse a Kubernetes upgrade and prove with traffic that it does not hurt.

GO      ?= go
BIN     ?= bin/rehearse
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/rehearse/rehearse/rehearse.buildVersion=$(VERSION)

KUBERNETES ?= v1.35.4 v1.36.3

.PHONY: all build deps unit test test-cluster substrate bench run vet clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/rehearse

# deps installs what tests need from Debian (idempotent, cached by apt).
deps:
	./scripts/install-deps.sh

vet:
	$(GO) vet ./...

# unit runs the fast tests only (-short skips the slow real-traffic ones, saying so).
unit:
	$(GO) test -short ./...

# test runs everything: unit tests, real-traffic tests and the browser test.
test: deps vet
	$(GO) test -count=1 -timeout 30m ./...

# substrate makes this machine able to run kind clusters offline: podman and
# its settings (rehearse doctor --fix) and the node images of KUBERNETES,
# built from source once and cached (rehearse images build).
substrate: build
	$(BIN) doctor --fix
	$(BIN) images build $(addprefix --kubernetes ,$(KUBERNETES))

# test-cluster runs the tests that need real kind clusters.
test-cluster: substrate
	REHEARSE_CLUSTER_TESTS=1 $(GO) test -count=1 -timeout 80m -run 'Integration' ./rehearse/...

# bench prints loadgen accuracy, memory and ceiling figures (see scripts/bench.sh).
bench: build
	./scripts/install-deps.sh --bench
	./scripts/bench.sh

# run is a full local drill: canary, phased load, judged report.
run: build deps
	./scripts/run-local.sh

clean:
	rm -rf bin runs
