#!/usr/bin/env bash
# Replaces one worker of a kind cluster by hand, the way kops or a managed
# node group does: a new node container from a node image joins the cluster
# and becomes Ready, then the old node is cordoned, drained, deleted and its
# container removed. The new node is named after the old one with the new
# node's version (kind-worker2 -> kind-worker2-v1-35-4). Before each step it
# prints a timeline marker on stdout ("::rehearse-step STEP NODE"), which the
# exec driver turns into a timeline step; everything else goes to stderr.
#
# usage: replace-worker.sh NODE NODE_IMAGE
#   e.g. replace-worker.sh rh-exec-123-worker localhost/rehearse/node:v1.35.4
#
# ENGINE is the container engine running the kind nodes, podman or docker
# (default: the exec driver's REHEARSE_ENGINE, else podman). READY_TIMEOUT
# bounds the wait for Ready, in seconds (180); DRAIN_TIMEOUT the drain (120).
# No kubectl is needed on the host: kubectl runs inside the cluster's control
# plane container with its admin kubeconfig. The new node registers with the
# old one's pool label; labels and taints set through the API are not carried
# over.
#
# On a failure before the drain, the new node is left in the cluster (delete
# it with kubectl delete node and "$ENGINE rm -f"); after it, the old node is
# left cordoned, as an operator would leave a node whose replacement went
# wrong.
set -euo pipefail

ENGINE=${ENGINE:-${REHEARSE_ENGINE:-podman}}
READY_TIMEOUT=${READY_TIMEOUT:-180}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-120}

say() { echo "replace-worker: $*" >&2; }
die() {
	say "error: $*"
	exit 1
}
step() { echo "::rehearse-step $1 $2"; }

if [[ $# -ne 2 || -z "$1" || -z "$2" ]]; then
	echo "usage: $(basename "$0") NODE NODE_IMAGE" >&2
	echo "  e.g. $(basename "$0") kind-worker localhost/rehearse/node:v1.35.4" >&2
	exit 2
fi
OLD=$1
IMAGE=$2

command -v "$ENGINE" >/dev/null 2>&1 || die "container engine $ENGINE not found (set ENGINE=podman or ENGINE=docker)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/replace-worker.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'say "interrupted"; exit 143' TERM
trap 'say "interrupted"; exit 130' INT

inspect() { "$ENGINE" container inspect --format "$1" "$OLD"; }
"$ENGINE" container inspect "$OLD" >/dev/null 2>&1 || die "node container $OLD not found in $ENGINE"
cluster=$(inspect '{{ index .Config.Labels "io.x-k8s.kind.cluster" }}' 2>/dev/null || true)
[[ -n "$cluster" && "$cluster" != "<no value>" ]] || die "$OLD is not a kind node (no io.x-k8s.kind.cluster label)"
role=$(inspect '{{ index .Config.Labels "io.x-k8s.kind.role" }}')
[[ "$role" == "worker" ]] || die "$OLD is a $role node of cluster $cluster, not a worker"
cp=$("$ENGINE" ps --filter "label=io.x-k8s.kind.cluster=$cluster" --filter "label=io.x-k8s.kind.role=control-plane" --format '{{.Names}}' | sort | head -n1)
[[ -n "$cp" ]] || cp="$cluster-control-plane"
"$ENGINE" exec "$cp" test -f /etc/kubernetes/admin.conf 2>/dev/null || die "control plane $cp of cluster $cluster is not running"
kubectl() { "$ENGINE" exec "$cp" kubectl --kubeconfig /etc/kubernetes/admin.conf "$@"; }
kubectl get node "$OLD" >/dev/null || die "node $OLD is not registered in cluster $cluster"
"$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1 || die "node image $IMAGE not found in $ENGINE"

version=${IMAGE##*:}
[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "the tag of $IMAGE is not a version like v1.35.4"
NEW="$OLD-${version//./-}"
"$ENGINE" container inspect "$NEW" >/dev/null 2>&1 && die "a container named $NEW exists already"

# What the new container takes from the old: network, bind mounts (kind's
# and rehearse's marks), devices.
args=(--name "$NEW" --hostname "$NEW" --label "io.x-k8s.kind.cluster=$cluster" --label "io.x-k8s.kind.role=worker"
	--privileged --tmpfs /tmp --tmpfs /run --volume /lib/modules:/lib/modules:ro
	-e KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER --detach --tty --cgroupns=private)
if [[ "$ENGINE" == docker ]]; then
	args+=(--volume /var -e container=docker --security-opt seccomp=unconfined --security-opt apparmor=unconfined --restart=on-failure:1 --init=false)
else
	vol=$("$ENGINE" volume create --label "$NEW=true")
	args+=(--volume "$vol:/var:suid,exec,dev" -e container=podman)
fi
for net in $(inspect '{{ range $k, $v := .NetworkSettings.Networks }}{{ $k }} {{ end }}'); do
	args+=(--net "$net")
done
for b in $(inspect '{{ range .Mounts }}{{ if eq .Type "bind" }}{{ .Source }}:{{ .Destination }}:{{ .RW }} {{ end }}{{ end }}'); do
	src=${b%%:*}
	rest=${b#*:}
	dst=${rest%:*}
	rw=${rest##*:}
	[[ "$dst" == /lib/modules ]] && continue
	if [[ "$rw" == false ]]; then args+=(--volume "$src:$dst:ro"); else args+=(--volume "$src:$dst"); fi
done
for d in $(inspect '{{ range .HostConfig.Devices }}{{ .PathOnHost }} {{ end }}'); do
	args+=(--device "$d")
done

step surge "$NEW"
say "making $NEW from $IMAGE to replace $OLD"
"$ENGINE" run "${args[@]}" "$IMAGE" >/dev/null
for _ in $(seq 1 120); do
	if "$ENGINE" logs "$NEW" 2>&1 | grep -Eq 'Reached target .*Multi-User System|detected cgroup v1'; then
		break
	fi
	sleep 0.5
done

# The images the old node holds that the node image lacks (loaded without a
# registry: the canary's, the applications'). Kubernetes' own are not
# copied: give a node image of the cluster's version or newer.
list() { "$ENGINE" exec "$1" ctr --namespace=k8s.io images list -q | grep -v '^sha256:' | sort; }
list "$OLD" >"$tmp/old"
list "$NEW" >"$tmp/new"
missing=$(comm -23 "$tmp/old" "$tmp/new" | grep -Ev '^(registry\.k8s\.io|docker\.io/kindest|docker\.io/flannel|ghcr\.io/flannel-io)/' || true)
if [[ -n "$missing" ]]; then
	say "copying images from $OLD: $(echo "$missing" | tr '\n' ' ')"
	# shellcheck disable=SC2086 # one argument per image
	"$ENGINE" exec "$OLD" ctr --namespace=k8s.io images export /tmp/replace-images.tar $missing
	"$ENGINE" cp "$OLD:/tmp/replace-images.tar" "$tmp/images.tar"
	"$ENGINE" exec "$OLD" rm -f /tmp/replace-images.tar
	"$ENGINE" cp "$tmp/images.tar" "$NEW:/tmp/replace-images.tar"
	"$ENGINE" exec "$NEW" ctr --namespace=k8s.io images import /tmp/replace-images.tar >&2
	"$ENGINE" exec "$NEW" rm -f /tmp/replace-images.tar
fi

step join "$NEW"
endpoint=$("$ENGINE" exec "$OLD" cat /kind/kubeadm.conf | awk '/apiServerEndpoint:/ {gsub(/"/, "", $2); print $2; exit}')
[[ -n "$endpoint" ]] || die "no apiServerEndpoint in $OLD's /kind/kubeadm.conf"
labels=$(kubectl get node "$OLD" -o jsonpath='{.metadata.labels.rehearse\.io/pool}')
token=$("$ENGINE" exec "$cp" kubeadm token create --ttl 1h --kubeconfig /etc/kubernetes/admin.conf | tail -n1)
ip=$("$ENGINE" container inspect --format '{{ range .NetworkSettings.Networks }}{{ .IPAddress }} {{ end }}' "$NEW" | awk '{print $1}')
provider="kind://$ENGINE/$cluster/$NEW"
{
	echo "apiVersion: kubeadm.k8s.io/v1beta4"
	echo "kind: JoinConfiguration"
	echo "discovery:"
	echo "  bootstrapToken:"
	echo "    apiServerEndpoint: $endpoint"
	echo "    token: $token"
	echo "    unsafeSkipCAVerification: true"
	echo "nodeRegistration:"
	echo "  criSocket: unix:///run/containerd/containerd.sock"
	echo "  kubeletExtraArgs:"
	echo "  - name: node-ip"
	echo "    value: \"$ip\""
	echo "  - name: provider-id"
	echo "    value: \"$provider\""
	if [[ -n "$labels" ]]; then
		echo "  - name: node-labels"
		echo "    value: \"rehearse.io/pool=$labels\""
	fi
	echo "skipPhases:"
	echo "- preflight"
} >"$tmp/join.conf"
"$ENGINE" exec "$NEW" mkdir -p /kind
"$ENGINE" cp "$tmp/join.conf" "$NEW:/kind/kubeadm.conf"
"$ENGINE" exec "$NEW" kubeadm join --config /kind/kubeadm.conf >&2 || die "kubeadm join of $NEW failed"

step ready "$NEW"
deadline=$((SECONDS + READY_TIMEOUT))
until [[ "$(kubectl get node "$NEW" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)" == True ]]; do
	((SECONDS < deadline)) || die "$NEW not Ready within ${READY_TIMEOUT}s (it stays in the cluster)"
	sleep 2
done
say "$NEW is Ready"

step cordon "$OLD"
kubectl cordon "$OLD" >&2

step drain "$OLD"
kubectl drain "$OLD" --ignore-daemonsets --delete-emptydir-data --timeout="${DRAIN_TIMEOUT}s" >&2 ||
	die "drain of $OLD failed (it stays cordoned; $NEW stays in the cluster)"

step delete "$OLD"
oldvols=$(inspect '{{ range .Mounts }}{{ if eq .Type "volume" }}{{ .Name }} {{ end }}{{ end }}')
# Out of the load balancers first, then a deregistration delay: whatever
# sends to the node's address stops while it still answers (once its Node
# is deleted, the CNI drops its routes at once).
kubectl label node "$OLD" node.kubernetes.io/exclude-from-external-load-balancers=true >&2
sleep 5
kubectl delete node "$OLD" >&2
"$ENGINE" rm -f -v "$OLD" >/dev/null
for v in $oldvols; do
	"$ENGINE" volume rm -f "$v" >/dev/null 2>&1 || true
done
say "$OLD replaced by $NEW"
