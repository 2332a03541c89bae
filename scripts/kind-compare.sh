#!/usr/bin/env bash
# Times `rehearse cluster create` side by side with the kind CLI (built from
# the kind module version rehearse links) creating the same cluster: the same
# kind configuration (rehearse cluster create --print-config), the same node
# image, flannel from the manifest the node image carries, and the same end
# point: every node Ready and every kube-system pod Ready. Prints one line per
# create and deletes every cluster it made. Figures only; nothing asserted.
#   KUBERNETES (v1.35.4), WORKERS (2), ROUNDS (2)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/rehearse}
KUBERNETES=${KUBERNETES:-v1.35.4}
WORKERS=${WORKERS:-2}
ROUNDS=${ROUNDS:-2}
TOOLS=${TOOLS:-.cache/bench-tools}
OUT=$(mktemp -d)
export KIND_EXPERIMENTAL_PROVIDER=${KIND_EXPERIMENTAL_PROVIDER:-podman}
made=()
cleanup() {
	for n in "${made[@]}"; do
		"$BIN" cluster delete "$n" >/dev/null 2>&1 || true
		"$TOOLS/kind" delete cluster --name "$n" >/dev/null 2>&1 || true
	done
	rm -rf "$OUT"
}
trap cleanup EXIT

mkdir -p "$TOOLS"
go build -o "$TOOLS/kind" sigs.k8s.io/kind # the version in go.mod

now() { date +%s.%N; }
secs() { python3 -c "print('%.1f' % ($2 - $1))"; }

rehearse_create() { # name
	local t0 t1
	t0=$(now)
	"$BIN" cluster create --name "$1" --kubernetes "$KUBERNETES" --workers "$WORKERS" >/dev/null 2>"$OUT/$1.log"
	t1=$(now)
	echo "$(secs "$t0" "$t1")"
}

kind_create() { # name
	local t0 t1 cp="$1-control-plane"
	"$BIN" cluster create --name "$1" --kubernetes "$KUBERNETES" --workers "$WORKERS" --print-config >"$OUT/$1.yaml"
	t0=$(now)
	"$TOOLS/kind" create cluster --name "$1" --config "$OUT/$1.yaml" --kubeconfig "$OUT/$1.kubeconfig" >"$OUT/$1.log" 2>&1
	podman exec "$cp" kubectl --kubeconfig=/etc/kubernetes/admin.conf apply -f /kind/manifests/flannel.yaml >>"$OUT/$1.log" 2>&1
	podman exec "$cp" sh -c '
		k="kubectl --kubeconfig=/etc/kubernetes/admin.conf"
		until $k wait --for=condition=Ready nodes --all --timeout=10s >/dev/null 2>&1; do sleep 1; done
		until $k -n kube-system get pods --no-headers 2>/dev/null | grep -q . &&
			$k -n kube-system wait --for=condition=Ready pods --all --timeout=10s >/dev/null 2>&1 &&
			$k -n kube-flannel wait --for=condition=Ready pods --all --timeout=10s >/dev/null 2>&1; do sleep 1; done' >>"$OUT/$1.log" 2>&1
	t1=$(now)
	echo "$(secs "$t0" "$t1")"
}

echo "== cluster create, 1 control plane + $WORKERS workers, flannel, $KUBERNETES: seconds to every node and kube-system pod Ready"
printf "%-6s %-24s %-10s\n" round tool seconds
for r in $(seq "$ROUNDS"); do
	n=cmp-r$r; made+=("$n")
	s=$(rehearse_create "$n") || { cat "$OUT/$n.log"; exit 1; }
	printf "%-6s %-24s %-10s\n" "$r" "rehearse cluster create" "$s"
	"$BIN" cluster delete "$n" >/dev/null 2>&1
	n=cmp-k$r; made+=("$n")
	s=$(kind_create "$n") || { cat "$OUT/$n.log"; exit 1; }
	printf "%-6s %-24s %-10s\n" "$r" "kind create cluster" "$s"
	"$TOOLS/kind" delete cluster --name "$n" >/dev/null 2>&1
done
