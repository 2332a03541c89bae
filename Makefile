# rehearse: rehearse a Kubernetes upgrade and prove with traffic that it does not hurt.

GO      ?= go
BIN     ?= bin/rehearse
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/rehearse/rehearse/rehearse.buildVersion=$(VERSION)

KUBERNETES ?= v1.35.4 v1.36.3
# KUBERNETES_FULL are the node images only make test-full needs (the
# second hop of the two-hop rehearsal).
KUBERNETES_FULL ?= v1.37.2

.PHONY: all build deps unit test test-full test-cluster substrate example-app example-ingress bench run drill vet clean

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

# test runs the unit and browser tests in parallel, then, on the provisioned
# substrate, the real-traffic tests, the cluster tests and the upgrade gate
# one package at a time (each makes real kind clusters): the default
# in-place gate, its negative control, our own application, the drills,
# exec (a worker upgraded, a worker replaced) and interrupt tests: about 60
# minutes with the node images cached (59.5 measured from a clean clone),
# about 80 on a fresh machine that builds them first, within CI's 90.
# The gate's run folders stay in runs/test.
test: deps vet substrate example-app
	$(GO) test -count=1 -timeout 30m -skip 'Integration|Gate' ./...
	REHEARSE_RUNS_DIR=$(CURDIR)/runs/test $(GO) test -count=1 -p 1 -timeout 85m -run 'Integration|Gate' ./...

# test-full runs everything test does plus the cluster tests kept out of CI's
# time: the blue-green swap (two clusters), own-app's negative control and
# bad-input drills, the stateful canary (the default upgrade with the
# ledger, and its negative control: one member on an emptyDir, which must
# fail by lost-writes), the node-pools rehearsal (a 1+3 cluster with a tainted
# pool) and the node-replacement rehearsals (every worker replaced; aborted
# and reverted, by replace and in place; a drain a budget blocks), the
# 3 control plane + 2 worker in-place upgrade, the same with etcd fault
# drills, a kubelet fault drill with no upgrade, apiserver, kubelet and node
# faults at each point of the default upgrade, the default upgrade with
# the CNI installed from the workloads (cni: none), a Calico cluster (pod
# networking, DNS and NodePorts) and the default upgrade on it (Calico built
# from source first, cached like the node images), the default upgrade
# loaded by three in-cluster generators (one killed mid-upgrade), the same
# loaded through an ingress controller (Traefik, built from source), and an
# upgrade across two
# minors (v1.35.4 to v1.36.3 to v1.37.2; it builds the v1.37.2 node image
# first, cached like the others).
test-full: deps vet substrate example-app example-ingress
	$(BIN) images build --calico $(addprefix --kubernetes ,$(KUBERNETES_FULL))
	$(GO) test -count=1 -timeout 30m -skip 'Integration|Gate' ./...
	REHEARSE_TEST_FULL=1 REHEARSE_RUNS_DIR=$(CURDIR)/runs/test-full $(GO) test -count=1 -p 1 -timeout 360m -run 'Integration|Gate' ./...

# example-ingress builds the ingress example's controller, Traefik, from its
# source in the Go module proxy (localhost/rehearse/traefik:v3.6.12), offline
# otherwise; the first build compiles for several minutes, then it is cached.
example-ingress:
	./scripts/build-ingress-controller.sh

# example-app builds the own-app example's image (localhost/rehearse/shop:example)
# into podman's store, offline.
example-app: substrate
	./scripts/build-example-app.sh

# substrate makes this machine able to run kind clusters offline: podman and
# its settings (rehearse doctor --fix), the node images of KUBERNETES, built
# from source once and cached (rehearse images build), and no orphaned
# throwaway cluster of a rehearsal or test killed outright eating its CPU
# (rehearse cluster prune; clusters made to be kept are never touched).
substrate: build
	$(BIN) doctor --fix
	$(BIN) images build $(addprefix --kubernetes ,$(KUBERNETES))
	$(BIN) cluster prune

# test-cluster runs only the tests that need real kind clusters.
test-cluster: substrate
	$(GO) test -count=1 -p 1 -timeout 85m -run 'Integration|Gate' ./rehearse/... ./e2e

# bench prints loadgen accuracy, memory and ceiling figures (see scripts/bench.sh).
bench: build
	./scripts/install-deps.sh --bench
	./scripts/bench.sh

# run rehearses the embedded default scenario on a throwaway kind cluster.
run: deps substrate
	$(BIN) run

# drill is a one-minute local drill with no cluster: canary, phased load with
# a graceful restart, judged report.
drill: build deps
	./scripts/run-local.sh

clean:
	rm -rf bin runs
