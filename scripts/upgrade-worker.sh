#!/usr/bin/env bash
# Upgrades one worker of a kind cluster by hand, the way an operator would:
# cordon, drain, swap the kubelet and kubectl binaries for those of a target
# node image, restart the kubelet, wait until the node is Ready at the target
# version, uncordon. Before each step it prints a timeline marker on stdout
# ("::rehearse-step STEP NODE"), which the exec driver turns into a timeline
# step; everything else goes to stderr.
#
# usage: upgrade-worker.sh NODE TARGET_NODE_IMAGE
#   e.g. upgrade-worker.sh rh-exec-123-worker localhost/rehearse/node:v1.36.3
#
# ENGINE is the container engine running the kind nodes, podman or docker
# (default: the exec driver's REHEARSE_ENGINE, else podman). READY_TIMEOUT
# bounds the wait for Ready, in seconds (180).
# No kubectl is needed on the host: kubectl runs inside the cluster's control
# plane container with its admin kubeconfig.
#
# On failure after the cordon, the node is left cordoned, as an operator
# would leave a node whose upgrade went wrong; uncordon it by hand once fixed.
set -euo pipefail

ENGINE=${ENGINE:-${REHEARSE_ENGINE:-podman}}
READY_TIMEOUT=${READY_TIMEOUT:-180}

say() { echo "upgrade-worker: $*" >&2; }
die() {
	say "error: $*"
	exit 1
}
step() { echo "::rehearse-step $1 $NODE"; }

if [[ $# -ne 2 || -z "$1" || -z "$2" ]]; then
	echo "usage: $(basename "$0") NODE TARGET_NODE_IMAGE" >&2
	echo "  e.g. $(basename "$0") kind-worker localhost/rehearse/node:v1.36.3" >&2
	exit 2
fi
NODE=$1
IMAGE=$2

command -v "$ENGINE" >/dev/null 2>&1 || die "container engine $ENGINE not found (set ENGINE=podman or ENGINE=docker)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/upgrade-worker.XXXXXX")
holder=""
cleanup() {
	if [[ -n "$holder" ]]; then
		"$ENGINE" rm -f -v "$holder" >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
# A stop (timeout, Ctrl-C) still cleans up.
trap 'say "interrupted"; exit 143' TERM
trap 'say "interrupted"; exit 130' INT

# The node and its cluster.
"$ENGINE" container inspect "$NODE" >/dev/null 2>&1 || die "node container $NODE not found in $ENGINE"
cluster=$("$ENGINE" container inspect --format '{{ index .Config.Labels "io.x-k8s.kind.cluster" }}' "$NODE" 2>/dev/null || true)
[[ -n "$cluster" && "$cluster" != "<no value>" ]] || die "$NODE is not a kind node (no io.x-k8s.kind.cluster label)"
role=$("$ENGINE" container inspect --format '{{ index .Config.Labels "io.x-k8s.kind.role" }}' "$NODE" 2>/dev/null || true)
[[ "$role" == "worker" ]] || die "$NODE is a $role node of cluster $cluster, not a worker"

# The control plane, where kubectl runs: by label, else by kind's naming.
cp=$("$ENGINE" ps --filter "label=io.x-k8s.kind.cluster=$cluster" --filter "label=io.x-k8s.kind.role=control-plane" --format '{{.Names}}' | sort | head -n1)
[[ -n "$cp" ]] || cp="$cluster-control-plane"
"$ENGINE" exec "$cp" test -f /etc/kubernetes/admin.conf 2>/dev/null || die "control plane $cp of cluster $cluster is not running (or has no /etc/kubernetes/admin.conf)"

kubectl() { "$ENGINE" exec "$cp" kubectl --kubeconfig /etc/kubernetes/admin.conf "$@"; }
kubectl get node "$NODE" >/dev/null || die "node $NODE is not registered in cluster $cluster"
from=$(kubectl get node "$NODE" -o jsonpath='{.status.nodeInfo.kubeletVersion}')

# The target binaries, out of the target node image (before the cordon, so
# the node is out of service for as short a time as possible).
"$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1 || die "target node image $IMAGE not found in $ENGINE"
say "taking kubelet and kubectl out of $IMAGE"
holder=$("$ENGINE" create "$IMAGE") || die "cannot create a container from $IMAGE"
for bin in kubelet kubectl; do
	"$ENGINE" cp "$holder:/usr/bin/$bin" "$tmp/$bin" || die "$IMAGE has no /usr/bin/$bin"
done
"$ENGINE" rm -f -v "$holder" >/dev/null 2>&1 || true
holder=""

# The target version: what the image's kubelet says, else the image's tag.
target=$("$tmp/kubelet" --version 2>/dev/null | awk '{print $2}' || true)
if [[ ! "$target" =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]]; then
	target=${IMAGE##*:}
	[[ "$target" =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]] || die "cannot tell the target version: the kubelet of $IMAGE does not run here and its tag is not a version"
fi
say "upgrading $NODE of cluster $cluster (control plane $cp) from kubelet $from to $target"

step cordon
kubectl cordon "$NODE" >&2

step drain
kubectl drain "$NODE" --ignore-daemonsets --delete-emptydir-data --timeout=2m >&2 ||
	die "drain of $NODE failed (the node stays cordoned)"

step "swap kubelet"
# Copy beside the running binaries, then rename over them: a running
# executable cannot be overwritten in place.
for bin in kubelet kubectl; do
	"$ENGINE" cp "$tmp/$bin" "$NODE:/usr/bin/$bin.new" || die "cannot copy $bin into $NODE"
	"$ENGINE" exec "$NODE" chmod 0755 "/usr/bin/$bin.new"
done
got=$("$ENGINE" exec "$NODE" /usr/bin/kubelet.new --version | awk '{print $2}') ||
	die "the new kubelet does not run in $NODE"
[[ "$got" == "$target" ]] || die "the new kubelet in $NODE says $got, want $target"
"$ENGINE" exec "$NODE" mv -f /usr/bin/kubelet.new /usr/bin/kubelet
"$ENGINE" exec "$NODE" mv -f /usr/bin/kubectl.new /usr/bin/kubectl

step "restart kubelet"
"$ENGINE" exec "$NODE" systemctl restart kubelet || die "systemctl restart kubelet failed in $NODE"

step ready
deadline=$((SECONDS + READY_TIMEOUT))
while :; do
	state=$(kubectl get node "$NODE" -o jsonpath='{.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
	if [[ "$state" == "$target True" ]]; then
		break
	fi
	if ((SECONDS >= deadline)); then
		say "kubelet status in $NODE:"
		"$ENGINE" exec "$NODE" systemctl status kubelet --no-pager -l >&2 || true
		"$ENGINE" exec "$NODE" journalctl -u kubelet --no-pager -n 30 >&2 || true
		die "$NODE not Ready at $target within ${READY_TIMEOUT}s (version and Ready: ${state:-unknown}; the node stays cordoned)"
	fi
	sleep 2
done
say "$NODE is Ready at $target"

step uncordon
kubectl uncordon "$NODE" >&2
say "$NODE upgraded from $from to $target"
