# rehearse: rehearse a Kubernetes upgrade and prove with traffic that it does not hurt.

GO      ?= go
BIN     ?= bin/rehearse
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/rehearse/rehearse/rehearse.buildVersion=$(VERSION)

.PHONY: all build deps unit test bench run vet clean

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

# bench prints loadgen accuracy, memory and ceiling figures (see scripts/bench.sh).
bench: build
	./scripts/install-deps.sh --bench
	./scripts/bench.sh

# run is a full local drill: canary, phased load, judged report.
run: build deps
	./scripts/run-local.sh

clean:
	rm -rf bin runs
