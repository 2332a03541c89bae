package scenarios

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/rehearse/rehearse/rehearse/kversion"
)

func TestDefaultScenarioIsTheDefaults(t *testing.T) {
	s, err := Default()
	require.NoError(t, err)
	want := Defaults()
	ref := &source{sets: map[string]string{}}
	want.settleDefaults(ref)
	want.Metadata = s.Metadata
	// The default scenario judges latency loosely (CPU shared with the control plane).
	assert.Equal(t, 500*time.Millisecond, s.Checks.Judge.MinP99Increase.Duration)
	want.Checks.Judge = s.Checks.Judge
	assert.Equal(t, want, s, "default.yaml and Defaults() must say the same")
	assert.Equal(t, "kind-inplace-minor", s.Metadata.Name)
	assert.Equal(t, 1, *s.Canary.PDB.MaxUnavailable)
	assert.Equal(t, 10*time.Second, s.Upgrade.Kubeadm.NodeInterval.Duration)
}

func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 4)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f)
			require.NoError(t, err)
			assert.NotEmpty(t, s.Metadata.Name)
		})
	}
	s, err := Load("examples/exec-kops-preprod.yaml")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join("examples", "preprod.kubeconfig"), s.Cluster.Kubeconfig, "paths resolve against the scenario's folder")
	assert.Equal(t, 2*time.Hour, s.Upgrade.Exec.Timeout.Duration)
}

func TestOverrides(t *testing.T) {
	s, err := Default("upgrade.target=v1.36.0", "load.rate=250", "canary.pdb.maxUnavailable=2", "load.probes=[fresh]", "cluster.workers=0")
	require.NoError(t, err)
	assert.Equal(t, "v1.36.0", s.Upgrade.Target)
	assert.Equal(t, 250.0, s.Load.Rate)
	assert.Equal(t, 2, *s.Canary.PDB.MaxUnavailable)
	assert.Equal(t, []string{"fresh"}, s.Load.Probes)
	assert.Equal(t, 0, s.Cluster.Workers)
}

const base = `apiVersion: rehearse.dev/v1alpha1
kind: Scenario
metadata:
  name: t
`

// TestMalformedScenarios: each bad scenario and the exact error it gets.
func TestMalformedScenarios(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		sets []string
		want string
	}{
		{"empty document", ``, nil, "t.yaml: empty document: want a Scenario (apiVersion rehearse.dev/v1alpha1)"},
		{"not a mapping", "- a\n- b\n", nil, "t.yaml:1: want a mapping (apiVersion, kind, metadata, cluster, ...)"},
		{"syntax error", base + "cluster: {workers: 2\n", nil, "t.yaml:4: did not find expected ',' or '}'"},
		{"wrong apiVersion", strings.Replace(base, "v1alpha1", "v9", 1), nil, `t.yaml:1: apiVersion: "rehearse.dev/v9": want rehearse.dev/v1alpha1`},
		{"wrong kind", strings.Replace(base, "kind: Scenario", "kind: Cluster", 1), nil, `t.yaml:2: kind: "Cluster": want Scenario`},
		{"unknown top-level field", base + "clusters:\n  workers: 2\n", nil, `t.yaml:5: clusters: unknown field (did you mean "cluster"?); known: apiVersion, canary, checks, cluster, images, kind, ledger, load, metadata, notes, output, upgrade, workloads`},
		{"unknown nested field", base + "load:\n  rat: 100\n", nil, `t.yaml:6: load.rat: unknown field (did you mean "rate"?); known: after, baseline, generators, probes, rate, targets, timeout`},
		{"bad duration", base + "load:\n  baseline: 30 seconds\n", nil, `t.yaml:6: load.baseline: "30 seconds" is not a duration such as 30s or 2m`},
		{"negative duration", base + "load:\n  after: -5s\n", nil, `t.yaml:6: load.after: "-5s" is negative`},
		{"string for a number", base + "cluster:\n  workers: two\n", nil, `t.yaml:6: cluster.workers: "two" is not a whole number`},
		{"list for a string", base + "upgrade:\n  target: [v1]\n", nil, `t.yaml:6: upgrade.target: want a single string`},
		{"field given twice", base + "load:\n  rate: 1\n  rate: 2\n", nil, `t.yaml:7: load.rate: given twice`},
		{"bad version", base + "cluster:\n  kubernetesVersion: 1.35\n", nil, `t.yaml:6: cluster.kubernetesVersion: "1.35" is not a Kubernetes version like v1.35.4`},
		{"downgrade", base + "upgrade:\n  target: v1.34.4\n", nil, `t.yaml:6: upgrade.target: target v1.34.4 is not newer than the cluster's v1.35.4`},
		{"two minors ahead", base + "upgrade:\n  target: v1.37.0\n", nil, `t.yaml:6: upgrade.target: target v1.37.0 is more than one minor version ahead of v1.35.4 (kubeadm upgrades one minor at a time: go to v1.36.x first)`},
		{"unknown driver", base + "upgrade:\n  driver: helm\n", nil, `t.yaml:6: upgrade.driver: unknown driver "helm"; known: bluegreen, exec, kubeadm, none, replace`},
		{"replace surge past the workers", base + "upgrade:\n  driver: replace\n  replace:\n    maxSurge: 3\n", nil, `t.yaml:8: upgrade.replace.maxSurge: 3 is more than the 2 workers`},
		{"replace batch past the workers", base + "upgrade:\n  driver: replace\n  replace:\n    maxSurge: 1\n    maxUnavailable: 2\n", nil, `t.yaml:9: upgrade.replace.maxUnavailable: 2 with maxSurge 1 is more than the 2 workers`},
		{"replace surge past the machine", base + "cluster:\n  controlPlanes: 1\n  workers: 8\nupgrade:\n  driver: replace\n  replace:\n    maxSurge: 2\n", nil, `t.yaml:11: upgrade.replace.maxSurge: 2: the cluster would hold 11 nodes during the surge, more than the 10 a throwaway cluster holds`},
		{"replace that replaces nothing", base + "upgrade:\n  driver: replace\n  replace:\n    maxSurge: 0\n    maxUnavailable: 0\n", nil, `t.yaml:9: upgrade.replace.maxUnavailable: 0 with maxSurge 0: no node could ever be replaced`},
		{"replace with a bad undrainable", base + "upgrade:\n  driver: replace\n  replace:\n    undrainable: skip\n", nil, `t.yaml:8: upgrade.replace.undrainable: "skip": want fail or cordon`},
		{"replace without workers", base + "cluster:\n  workers: 0\nupgrade:\n  driver: replace\n", nil, `t.yaml:6: cluster.workers: 0: the replace driver replaces workers; give the cluster at least one`},
		{"abort past the last worker", base + "upgrade:\n  abortAfter: 2\n", nil, `t.yaml:6: upgrade.abortAfter: 2: the cluster has 2 workers, so the upgrade would end before it could be aborted`},
		{"fault of an unknown kind", base + "upgrade:\n  faults:\n    - kind: disk\n      nodes: [worker]\n", nil, `t.yaml:7: upgrade.faults[0].kind: "disk": want one of apiserver, etcd-member, kubelet, node`},
		{"fault on a missing node", base + "upgrade:\n  faults:\n    - kind: kubelet\n      nodes: [worker3]\n", nil, `t.yaml:8: upgrade.faults[0].nodes[0]: "worker3": the cluster has no such node; its nodes are control-plane, worker, worker2`},
		{"etcd fault on a worker", base + "cluster:\n  controlPlanes: 3\nupgrade:\n  faults:\n    - kind: etcd-member\n      nodes: [worker]\n", nil, `t.yaml:10: upgrade.faults[0].nodes[0]: "worker" is not a control plane: a etcd-member fault hits control planes (control-plane, control-plane2, control-plane3)`},
		{"etcd fault on one control plane", base + "upgrade:\n  faults:\n    - kind: etcd-member\n      nodes: [control-plane]\n", nil, `t.yaml:7: upgrade.faults[0].kind: an etcd fault needs several control planes (cluster.controlPlanes is 1)`},
		{"address of a kubelet fault", base + "upgrade:\n  faults:\n    - kind: kubelet\n      nodes: [worker]\n      address: new\n", nil, `t.yaml:9: upgrade.faults[0].address: only a node fault restarts a node; a kubelet fault leaves its address alone`},
		{"unknown node address", base + "upgrade:\n  faults:\n    - kind: node\n      nodes: [worker]\n      address: same\n", nil, `t.yaml:9: upgrade.faults[0].address: "same": want keep (the node comes back on its address) or new`},
		{"fault at two points", base + "upgrade:\n  faults:\n    - kind: kubelet\n      nodes: [worker]\n      after: worker\n      duringDrain: worker2\n", nil, `t.yaml:10: upgrade.faults[0].duringDrain: a fault happens at one point`},
		{"fault after a node of a blue-green swap", base + "upgrade:\n  driver: bluegreen\n  faults:\n    - kind: kubelet\n      nodes: [worker]\n      after: worker\n", nil, `t.yaml:10: upgrade.faults[0].after: the bluegreen driver's plan has no node steps`},
		{"hop past a minor", base + "upgrade:\n  targets: [v1.36.3, v1.38.0]\n", nil, `t.yaml:6: upgrade.targets[1]: target v1.38.0 is more than one minor version ahead of v1.36.3`},
		{"hops reverted", base + "upgrade:\n  targets: [v1.36.3, v1.37.2]\n  revert: true\n", nil, `t.yaml:7: upgrade.revert: an upgrade of 2 hops is not reverted: give one target`},
		{"hops by blue-green", base + "upgrade:\n  driver: bluegreen\n  targets: [v1.36.3, v1.37.2]\n", nil, `t.yaml:7: upgrade.targets: the bluegreen driver upgrades in one step: only kubeadm and replace go hop by hop`},
		{"hops ending elsewhere", base + "upgrade:\n  target: v1.36.3\n  targets: [v1.36.3, v1.37.2]\n", nil, `t.yaml:6: upgrade.target: v1.36.3, but upgrade.targets ends at v1.37.2`},
		{"a drill with nothing to do", base + "upgrade:\n  driver: none\n", nil, `t.yaml:6: upgrade.driver: none upgrades nothing: a drill without an upgrade needs upgrade.faults`},
		{"two minors ahead, with the way out", base + "upgrade:\n  target: v1.37.2\n", nil, `go to v1.36.x first); or give every hop in upgrade.targets (one minor each)`},
		{"negative abort", base + "upgrade:\n  abortAfter: -1\n", nil, `t.yaml:6: upgrade.abortAfter: -1: want a number of workers`},
		{"abort of a blue-green swap", base + "upgrade:\n  driver: bluegreen\n  abortAfter: 1\n", nil, `t.yaml:7: upgrade.abortAfter: the bluegreen driver cannot stop after a number of workers: only kubeadm and replace can`},
		{"revert by exec", base + "upgrade:\n  driver: exec\n  revert: true\n  exec:\n    command: [true]\n", nil, `upgrade.revert: the exec driver cannot revert: only kubeadm`},
		{"replace on an existing cluster", base + "cluster:\n  provider: existing\n  kubeconfig: k\ncanary:\n  image: x\nupgrade:\n  driver: replace\n", nil, `upgrade.driver: replace makes new nodes with kind's node images: the cluster provider must be kind`},
		{"settings of another driver", base + "upgrade:\n  driver: kubeadm\n  exec:\n    command: [x]\n", nil, `t.yaml:7: upgrade.exec: settings for driver exec, but the driver is kubeadm`},
		{"exec without command", base + "cluster:\n  provider: existing\n  kubeconfig: k\nupgrade:\n  driver: exec\n", nil, `upgrade.exec.command: the exec driver needs the command that performs the upgrade`},
		{"existing without kubeconfig", base + "cluster:\n  provider: existing\nupgrade:\n  driver: exec\n  exec:\n    command: [x]\n", nil, `t.yaml:5: cluster.kubeconfig: provider existing needs the kubeconfig of the cluster under test`},
		{"kubeadm on existing", base + "cluster:\n  provider: existing\n  kubeconfig: k\n", nil, `upgrade.driver: "kubeadm" cannot upgrade an existing cluster: use exec with the command that upgrades it`},
		{"ledger on an existing cluster", base + "cluster:\n  provider: existing\n  kubeconfig: k\nupgrade:\n  driver: exec\n  exec:\n    command: [x]\nledger:\n  enabled: true\n", nil, `ledger.enabled: the stateful canary makes hostPath volumes on the nodes`},
		{"ledger of two members", base + "ledger:\n  enabled: true\n  members: 2\n", nil, `t.yaml:7: ledger.members: 2: want 1, 3 or 5 members (a majority of them must stay up)`},
		{"ledger on a tape", base + "ledger:\n  enabled: true\n  storage: tape\n", nil, `t.yaml:7: ledger.storage: "tape": want persistent or ephemeral`},
		{"ledger writing too fast", base + "ledger:\n  enabled: true\n  writeRate: 1000\n", nil, `t.yaml:7: ledger.writeRate: 1000: want 1 to 200 writes per second`},
		{"both PDB kinds", base + "canary:\n  pdb:\n    maxUnavailable: 1\n    minAvailable: 1\n", nil, `t.yaml:6: canary.pdb: maxUnavailable and minAvailable together: a PodDisruptionBudget takes one`},
		{"overlapping subnets", base + "cluster:\n  networking:\n    podSubnet: 10.0.0.0/8\n    serviceSubnet: 10.96.0.0/16\n", nil, `t.yaml:8: cluster.networking.serviceSubnet: 10.96.0.0/16 overlaps the pod subnet 10.0.0.0/8`},
		{"bad CIDR", base + "cluster:\n  networking:\n    podSubnet: 10.244.0.0\n", nil, `t.yaml:7: cluster.networking.podSubnet: "10.244.0.0" is not a CIDR like 10.244.0.0/16`},
		{"unknown CNI", base + "cluster:\n  cni: cilium\n", nil, `t.yaml:6: cluster.cni: "cilium": want one of calico, flannel, kindnet, none`},
		{"no CNI and no workloads to install one", base + "cluster:\n  cni: none\n", nil, `t.yaml:6: cluster.cni: none: the nodes have no pod network until one is installed: list the CNI's manifests under workloads (its images under images)`},
		{"unknown proxy mode", base + "cluster:\n  networking:\n    kubeProxyMode: userspace\n", nil, `t.yaml:7: cluster.networking.kubeProxyMode: "userspace": want one of iptables, ipvs, nftables`},
		{"zero replicas", base + "canary:\n  replicas: 0\n", nil, `t.yaml:6: canary.replicas: 0: the canary needs at least one replica`},
		{"node port out of range", base + "canary:\n  nodePort: 8080\n", nil, `t.yaml:6: canary.nodePort: 8080 is outside the NodePort range 30000-32767 (0 lets Kubernetes choose)`},
		{"unknown probe", base + "load:\n  probes: [reuse, udp]\n", nil, `t.yaml:6: load.probes[1]: unknown probe kind "udp"; known: reuse, fresh`},
		{"rate too low for probes", base + "load:\n  rate: 1\n", nil, `t.yaml:6: load.rate: 1/s over 2 probe kinds is below 1/s each`},
		{"unknown checklist", base + "checks:\n  checklist: openshift\n", nil, `t.yaml:6: checks.checklist: unknown checklist "openshift"; known: eks, gke, kind, kops (or a path to a file)`},
		{"missing checklist file", base + "checks:\n  checklist: ./mine.yaml\n", nil, `t.yaml:6: checks.checklist: checklist file ./mine.yaml:`},
		{"bad judge threshold", base + "checks:\n  judge:\n    maxP99Ratio: 0.5\n", nil, `t.yaml:7: checks.judge.maxP99Ratio: 0.5 must be at least 1`},
		{"bad --set path", base, []string{"load.rat=5"}, `--set load.rat=5: load.rat: unknown field (did you mean "rate"?); known: after, baseline, generators, probes, rate, targets, timeout`},
		{"bad --set value", base, []string{"upgrade.target=v2.0.0"}, `--set upgrade.target=v2.0.0: upgrade.target: target v2.0.0 is more than one minor version ahead of v1.35.4`},
		{"--set without =", base, []string{"load.rate"}, `--set load.rate: want path=value, e.g. upgrade.target=v1.36.3`},
		{"missing profile", base + "cluster:\n  fromProfile: ./prod-profile.yaml\n", nil, `t.yaml:6: cluster.fromProfile: open prod-profile.yaml: no such file or directory`},
		{"profile by --set", base, []string{"cluster.fromProfile=p.yaml"}, `--set cluster.fromProfile=p.yaml: cluster.fromProfile: a profile is read before the scenario's own fields: name it in the scenario file`},
		// Hostile numbers: not finite, absurd, or overflowing the
		// Kubernetes field they feed.
		{"NaN rate", base + "load:\n  rate: .nan\n", nil, `t.yaml:6: load.rate: ".nan" is not a finite number`},
		{"infinite rate", base + "load:\n  rate: .inf\n", nil, `t.yaml:6: load.rate: ".inf" is not a finite number`},
		{"minus infinite rate", base + "load:\n  rate: -.inf\n", nil, `t.yaml:6: load.rate: "-.inf" is not a finite number`},
		{"absurd rate", base + "load:\n  rate: 1e308\n", nil, `t.yaml:6: load.rate: 1e+308 requests per second is more than one machine sends: at most 50000`},
		{"rate past float64", base + "load:\n  rate: 1e999\n", nil, `t.yaml:6: load.rate: "1e999" is not a number`},
		{"unknown probe by --set", base, []string{"load.probes=[reuse, udp]"}, `--set load.probes=[reuse, udp]: load.probes[1]: unknown probe kind "udp"; known: reuse, fresh`},
		{"NaN rate by --set", base, []string{"load.rate=.nan"}, `--set load.rate=.nan: load.rate: ".nan" is not a finite number`},
		{"NaN alpha", base + "checks:\n  judge:\n    alpha: .nan\n", nil, `t.yaml:7: checks.judge.alpha: ".nan" is not a finite number`},
		{"absurd alpha", base + "checks:\n  judge:\n    alpha: 1e308\n", nil, `t.yaml:7: checks.judge.alpha: 1e+308 is not between 0 and 1`},
		{"infinite p99 ratio", base + "checks:\n  judge:\n    maxP99Ratio: .inf\n", nil, `t.yaml:7: checks.judge.maxP99Ratio: ".inf" is not a finite number`},
		{"absurd p99 ratio", base + "checks:\n  judge:\n    maxP99Ratio: 1e308\n", nil, `t.yaml:7: checks.judge.maxP99Ratio: 1e+308 is above 1000: a p99 that much worse is an outage, not a threshold`},
		{"NaN error increase", base + "checks:\n  judge:\n    maxErrorRateIncrease: .nan\n", nil, `t.yaml:7: checks.judge.maxErrorRateIncrease: ".nan" is not a finite number`},
		{"absurd error increase", base + "checks:\n  judge:\n    maxErrorRateIncrease: 1e308\n", nil, `t.yaml:7: checks.judge.maxErrorRateIncrease: 1e+308 is not a fraction between 0 and 1`},
		{"absurd min samples", base + "checks:\n  judge:\n    minSamples: 9223372036854775807\n", nil, `t.yaml:7: checks.judge.minSamples: 9223372036854775807 is more requests than a phase sends`},
		{"absurd duration", base + "load:\n  baseline: 2000h\n", nil, `t.yaml:6: load.baseline: "2000h" is longer than 168h`},
		{"replicas past int32", base + "canary:\n  replicas: 2147483648\n", nil, `t.yaml:6: canary.replicas: 2147483648 overflows the Deployment's replicas (at most 2147483647)`},
		{"minAvailable past int32", base + "canary:\n  pdb:\n    minAvailable: 2147483648\n", nil, `t.yaml:7: canary.pdb.minAvailable: 2147483648 overflows the PodDisruptionBudget's minAvailable`},
		{"maxUnavailable past int32", base + "canary:\n  pdb:\n    maxUnavailable: 9223372036854775807\n", nil, `t.yaml:7: canary.pdb.maxUnavailable: 9223372036854775807 overflows the PodDisruptionBudget's maxUnavailable`},
		{"node count that overflows", base + "cluster:\n  controlPlanes: 1\n  workers: 9223372036854775807\n", nil, `t.yaml:7: cluster.workers: 9223372036854775807: a throwaway cluster on one machine holds at most 10 nodes`},
		{"too many control planes", base + "cluster:\n  controlPlanes: 11\n  workers: 0\n", nil, `t.yaml:6: cluster.controlPlanes: 11: a throwaway cluster on one machine holds at most 10 nodes`},
		{"kubeadm batch larger than any cluster", base + "cluster:\n  workers: 0\nupgrade:\n  kubeadm:\n    maxUnavailable: 1000\n", nil, `t.yaml:9: upgrade.kubeadm.maxUnavailable: 1000 is more than the 10 nodes a throwaway cluster holds`},
		{"node port below range", base + "canary:\n  nodePort: -1\n", nil, `t.yaml:6: canary.nodePort: -1 is outside the NodePort range 30000-32767`},
		// What the file is, and what it is called.
		{"missing apiVersion", "kind: Scenario\nmetadata:\n  name: t\n", nil, `t.yaml:1: apiVersion: missing: a scenario file says apiVersion: rehearse.dev/v1alpha1`},
		{"missing kind", "apiVersion: rehearse.dev/v1alpha1\nmetadata:\n  name: t\n", nil, `t.yaml:1: kind: missing: a scenario file says kind: Scenario`},
		{"missing name", "apiVersion: rehearse.dev/v1alpha1\nkind: Scenario\n", nil, `t.yaml:1: metadata.name: missing: name the scenario`},
		{"name that escapes the output folder", strings.Replace(base, "name: t", "name: ../../etc", 1), nil, `t.yaml:4: metadata.name: "../../etc" is not a DNS-1123 label`},
		{"name with capitals", strings.Replace(base, "name: t", "name: Prod", 1), nil, `t.yaml:4: metadata.name: "Prod" is not a DNS-1123 label`},
		{"name too long", strings.Replace(base, "name: t", "name: "+strings.Repeat("a", 64), 1), nil, `t.yaml:4: metadata.name: "` + strings.Repeat("a", 64) + `" is not a DNS-1123 label`},
		{"name by --set", base, []string{"metadata.name=a/b"}, `--set metadata.name=a/b: metadata.name: "a/b" is not a DNS-1123 label`},
		{"second document", base + "---\napiVersion: rehearse.dev/v1alpha1\nkind: Scenario\n", nil, `t.yaml:6: a second YAML document: a scenario file holds one Scenario`},
		{"syntax error in a second document", base + "---\nload: {rate: 1\n", nil, `t.yaml:5: did not find expected ',' or '}'`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.doc), tc.sets...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	require.GreaterOrEqual(t, len(tests), 12)
}

// TestFromProfile: a scenario built on a profile takes the profile's shape,
// checklist, target and notes, and its own fields override them.
func TestFromProfile(t *testing.T) {
	dir := t.TempDir()
	profile := base + `cluster:
  kubernetesVersion: v1.34.2
  controlPlanes: 3
  workers: 4
  cni: kindnet
  networking:
    podSubnet: 10.100.0.0/16
    serviceSubnet: 10.200.0.0/16
    kubeProxyMode: ipvs
upgrade:
  target: v1.35.0
checks:
  checklist: kops
notes:
  - CNI calico cannot be reproduced offline
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prod.yaml"), []byte(profile), 0o644))
	sc := base + `cluster:
  fromProfile: prod.yaml
  workers: 2
`
	path := filepath.Join(dir, "rehearsal.yaml")
	require.NoError(t, os.WriteFile(path, []byte(sc), 0o644))
	s, err := Load(path)
	require.NoError(t, err)
	c := s.Cluster
	assert.Equal(t, "v1.34.2", c.KubernetesVersion)
	assert.Equal(t, 3, c.ControlPlanes)
	assert.Equal(t, 2, c.Workers, "the scenario's own field overrides the profile")
	assert.Equal(t, "kindnet", c.CNI)
	assert.Equal(t, Networking{PodSubnet: "10.100.0.0/16", ServiceSubnet: "10.200.0.0/16", KubeProxyMode: "ipvs"}, c.Networking)
	assert.Equal(t, "v1.35.0", s.Upgrade.Target)
	assert.Equal(t, "kops", s.Checks.Checklist)
	assert.Equal(t, []string{"CNI calico cannot be reproduced offline"}, s.Notes)
	assert.Equal(t, filepath.Join(dir, "prod.yaml"), c.FromProfile)

	// A profile naming another profile, and a profile that is not a
	// scenario, are errors naming the scenario's field and the profile.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "chain.yaml"), []byte(base+"cluster:\n  fromProfile: prod.yaml\n"), 0o644))
	_, err = Parse(path, []byte(base+"cluster:\n  fromProfile: chain.yaml\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rehearsal.yaml:6: cluster.fromProfile: the profile is not a valid scenario:")
	assert.Contains(t, err.Error(), "chain.yaml:6: cluster.fromProfile: a profile cannot itself name a profile")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(base+"cluster:\n  workers: two\n"), 0o644))
	_, err = Parse(path, []byte(base+"cluster:\n  fromProfile: bad.yaml\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `bad.yaml:6: cluster.workers: "two" is not a whole number`)
}

func TestMarshalRoundTrip(t *testing.T) {
	s, err := Load("examples/kind-bluegreen.yaml")
	require.NoError(t, err)
	b, err := Marshal(s)
	require.NoError(t, err)
	back, err := Parse("round-trip.yaml", b)
	require.NoError(t, err, string(b))
	assert.Equal(t, s, back)
}

// TestLoaderChecks: a Loader's checks see the loaded scenario, and their
// problems are located at the file's line, or at the --set that gave the
// field; a field keeps the first problem found with it.
func TestLoaderChecks(t *testing.T) {
	var seen *Scenario
	l := Loader{Checks: []Check{func(s *Scenario) Errors {
		seen = s
		var errs Errors
		for i, f := range s.Output.Formats {
			if f == "pdf" {
				errs = append(errs, &Error{Field: fmt.Sprintf("output.formats[%d]", i), Msg: "no pdf here"})
			}
		}
		if s.Load.Rate < 0 {
			errs = append(errs, &Error{Field: "load.rate", Msg: "checked twice"})
		}
		return errs
	}}}
	_, err := l.Parse("t.yaml", []byte(base+"load:\n  rate: -1\noutput:\n  formats: [json, pdf]\n"))
	require.Error(t, err)
	assert.Equal(t, "t.yaml:6: load.rate: -1: want a positive number of requests per second\nt.yaml:8: output.formats[1]: no pdf here", err.Error())
	require.NotNil(t, seen)
	assert.Equal(t, []string{"json", "pdf"}, seen.Output.Formats)

	_, err = l.Default("output.formats=[pdf]")
	require.Error(t, err)
	assert.Equal(t, "--set output.formats=[pdf]: output.formats[0]: no pdf here", err.Error())

	plain, err := Parse("t.yaml", []byte(base+"output:\n  formats: [pdf]\n"))
	require.NoError(t, err, "the zero Loader applies no checks")
	assert.Equal(t, []string{"pdf"}, plain.Output.Formats)
}

func TestErrorWithoutFile(t *testing.T) {
	assert.Equal(t, "checks.judge.alpha: 2 is not between 0 and 1", (&Error{Field: "checks.judge.alpha", Msg: "2 is not between 0 and 1"}).Error())
	assert.Equal(t, "t.yaml:3: metadata.name: bad", (&Error{File: "t.yaml", Line: 3, Field: "metadata.name", Msg: "bad"}).Error())
	assert.Equal(t, "t.yaml: empty", (&Error{File: "t.yaml", Msg: "empty"}).Error())
}

// invariants are what every accepted scenario holds, however hostile the
// file: finite numbers within the limits, and a name that is a DNS label.
func invariants(s *Scenario) error {
	var bad []string
	check := func(ok bool, format string, args ...any) bool {
		if !ok {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
		return ok
	}
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(path, v.Elem())
			}
		case reflect.Struct:
			if d, ok := v.Interface().(Duration); ok {
				check(d.Duration >= 0 && d.Duration <= MaxDuration, "%s: duration %s", path, d.Duration)
				return
			}
			for i := range v.NumField() {
				walk(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
			}
		case reflect.Float32, reflect.Float64:
			check(!math.IsNaN(v.Float()) && !math.IsInf(v.Float(), 0), "%s: %v is not finite", path, v.Float())
		}
	}
	walk("scenario", reflect.ValueOf(s))
	check(len(validation.IsDNS1123Label(s.Metadata.Name)) == 0, "metadata.name %q is not a DNS-1123 label", s.Metadata.Name)
	check(s.APIVersion == APIVersion && s.Kind == Kind, "apiVersion %q, kind %q", s.APIVersion, s.Kind)
	check(s.Load.Rate > 0 && s.Load.Rate <= MaxLoadRate, "load.rate %v", s.Load.Rate)
	check(s.Canary.Replicas >= 1 && s.Canary.Replicas <= MaxInt32, "canary.replicas %d", s.Canary.Replicas)
	for name, p := range map[string]*int{"maxUnavailable": s.Canary.PDB.MaxUnavailable, "minAvailable": s.Canary.PDB.MinAvailable} {
		check(p == nil || (*p >= 0 && *p <= MaxInt32), "canary.pdb.%s %d", name, p)
	}
	check(s.Canary.NodePort == 0 || (s.Canary.NodePort >= 30000 && s.Canary.NodePort <= 32767), "canary.nodePort %d", s.Canary.NodePort)
	if c := s.Cluster; c.Provider == ProviderKind {
		check(c.ControlPlanes >= 1 && c.Workers >= 0 && c.ControlPlanes+c.Workers <= MaxNodes && c.ControlPlanes <= MaxNodes && c.Workers <= MaxNodes, "cluster nodes %d+%d", c.ControlPlanes, c.Workers)
		_, err := kversion.Parse(c.KubernetesVersion)
		check(err == nil, "cluster.kubernetesVersion: %v", err)
	}
	if k := s.Upgrade.Kubeadm; k != nil && s.Upgrade.Driver == DriverKubeadm && s.Cluster.Provider == ProviderKind {
		check(k.MaxUnavailable >= 1 && k.MaxUnavailable <= MaxNodes, "upgrade.kubeadm.maxUnavailable %d", k.MaxUnavailable)
	}
	check(!s.Canary.Disabled || (len(s.Load.Targets) > 0 && len(s.Load.Probes) == 0), "canary disabled with %d targets and probes %v", len(s.Load.Targets), s.Load.Probes)
	names := map[string]bool{}
	weight := float64(len(s.Load.Probes))
	for i, tg := range s.Load.Targets {
		check(len(validation.IsDNS1123Label(tg.Name)) == 0 && !names[tg.Name], "load.targets[%d].name %q", i, tg.Name)
		names[tg.Name] = true
		check((tg.URL == "") != (tg.Service == nil), "load.targets[%d]: url %q and service %v", i, tg.URL, tg.Service)
		if sv := tg.Service; sv != nil {
			check(sv.Namespace != "" && sv.Name != "" && !sv.Port.IsZero() && sv.Port.Number >= 0 && sv.Port.Number <= 65535, "load.targets[%d].service %+v", i, *sv)
		}
		check(slices.Contains(Methods(), tg.Method), "load.targets[%d].method %q", i, tg.Method)
		check(slices.Contains(Probes(), tg.Probe), "load.targets[%d].probe %q", i, tg.Probe)
		for _, c := range tg.Expect.Status {
			check(c >= 100 && c <= 599, "load.targets[%d].expect.status %d", i, c)
		}
		if check(tg.Share != nil && *tg.Share > 0 && !math.IsInf(*tg.Share, 0), "load.targets[%d].share %v", i, tg.Share); tg.Share != nil {
			weight += *tg.Share
		}
	}
	for i, tg := range s.Load.Targets {
		if tg.Share != nil && weight > 0 {
			check(s.Load.Rate**tg.Share/weight >= 1, "load.targets[%d] gets %v/s", i, s.Load.Rate**tg.Share/weight)
		}
	}
	if len(s.Load.Targets) > 0 && len(s.Load.Probes) > 0 && weight > 0 {
		check(s.Load.Rate/weight >= 1, "each probe kind gets %v/s", s.Load.Rate/weight)
	}
	for i, w := range s.Workloads {
		check(w.Path != "" && w.Wait != nil && w.Timeout.Duration > 0, "workloads[%d] %+v", i, w)
	}
	for i, img := range s.Images {
		check(img != "", "images[%d] is empty", i)
	}
	j := s.Checks.Judge
	check(j.MinSamples >= 0 && j.MinSamples <= MaxMinSamples, "checks.judge.minSamples %d", j.MinSamples)
	check(j.MaxErrorRateIncrease == nil || (*j.MaxErrorRateIncrease >= 0 && *j.MaxErrorRateIncrease <= 1), "checks.judge.maxErrorRateIncrease %v", j.MaxErrorRateIncrease)
	check(j.MaxP99Ratio == 0 || (j.MaxP99Ratio >= 1 && j.MaxP99Ratio <= MaxP99Ratio), "checks.judge.maxP99Ratio %v", j.MaxP99Ratio)
	check(j.Alpha >= 0 && j.Alpha < 1, "checks.judge.alpha %v", j.Alpha)
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// TestInvariantsCatch: the fuzz target's invariants reject what loading
// rejects, so a loader that let it through would fail the fuzz test.
func TestInvariantsCatch(t *testing.T) {
	good, err := Default()
	require.NoError(t, err)
	require.NoError(t, invariants(good))
	good, err = Default(`load.targets=[{name: shop, url: "http://x/"}]`)
	require.NoError(t, err)
	require.NoError(t, invariants(good))
	for name, spoil := range map[string]func(*Scenario){
		"NaN rate":       func(s *Scenario) { s.Load.Rate = math.NaN() },
		"absurd rate":    func(s *Scenario) { s.Load.Rate = 1e308 },
		"infinite alpha": func(s *Scenario) { s.Checks.Judge.Alpha = math.Inf(1) },
		"path name":      func(s *Scenario) { s.Metadata.Name = "../x" },
		"replicas":       func(s *Scenario) { s.Canary.Replicas = MaxInt32 + 1 },
		"workers":        func(s *Scenario) { s.Cluster.Workers = math.MaxInt },
		"duration":       func(s *Scenario) { s.Load.After = D(MaxDuration + 1) },
		"NaN share":      func(s *Scenario) { s.Load.Targets[0].Share = ptr(math.NaN()) },
		"zero share":     func(s *Scenario) { s.Load.Targets[0].Share = ptr(0.0) },
		"tiny share":     func(s *Scenario) { s.Load.Targets[0].Share = ptr(1e-9) },
		"no share":       func(s *Scenario) { s.Load.Targets[0].Share = nil },
		"twice a name":   func(s *Scenario) { s.Load.Targets = append(s.Load.Targets, s.Load.Targets[0]) },
		"target label":   func(s *Scenario) { s.Load.Targets[0].Name = "Shop" },
		"url & service": func(s *Scenario) {
			s.Load.Targets[0].Service = &ServiceRef{Namespace: "a", Name: "b", Port: Port{Number: 80}}
		},
		"status":       func(s *Scenario) { s.Load.Targets[0].Expect.Status = []int{600} },
		"method":       func(s *Scenario) { s.Load.Targets[0].Method = "get" },
		"target probe": func(s *Scenario) { s.Load.Targets[0].Probe = "udp" },
		"no canary":    func(s *Scenario) { s.Canary.Disabled, s.Load.Targets = true, nil },
		"workload":     func(s *Scenario) { s.Workloads = []Workload{{Path: "x"}} },
		"image":        func(s *Scenario) { s.Images = []string{""} },
	} {
		s, err := Default(`load.targets=[{name: shop, url: "http://x/"}]`)
		require.NoError(t, err)
		spoil(s)
		assert.Error(t, invariants(s), name)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	for _, p := range []string{"examples/kind-bluegreen.yaml", "examples/kops-flannel.yaml", "examples/exec-kops-preprod.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(base + "load:\n  baseline: &a 3s\n  after: *a\n"))
	f.Add([]byte(base + "load:\n  rate: .nan\n"))
	f.Add([]byte(base + "load:\n  rate: 1e308\ncanary:\n  replicas: 2147483648\n"))
	f.Add([]byte(base + "checks:\n  judge:\n    alpha: .inf\n    maxP99Ratio: 1e308\n"))
	f.Add([]byte(base + "cluster:\n  controlPlanes: 1\n  workers: 9223372036854775807\n"))
	f.Add([]byte(strings.Replace(base, "name: t", "name: ../../x", 1)))
	f.Add([]byte(base + "---\n" + base))
	f.Add([]byte(targetsScenario))
	f.Add([]byte(base + "canary:\n  disabled: true\nload:\n  rate: 3\n  targets:\n    - {name: a, url: 'http://x/', share: .5}\n    - {name: b, service: {namespace: n, name: s, port: http}, expect: {status: [204]}}\n"))
	f.Add([]byte(base + "load:\n  targets:\n    - {name: a, url: 'http://x/', share: 1e308}\nworkloads:\n  - {path: examples, timeout: 0s}\nimages: [localhost/a:b]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err == nil && s == nil {
			t.Fatal("no scenario and no error")
		}
		if err != nil {
			return
		}
		if err := invariants(s); err != nil {
			t.Fatalf("accepted a scenario that breaks the invariants: %v\n%s", err, data)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestReplaceDefaults(t *testing.T) {
	s, err := Parse("t.yaml", []byte(base+"upgrade:\n  driver: replace\n"))
	require.NoError(t, err)
	assert.Equal(t, &Replace{MaxSurge: 1, MaxUnavailable: 0, DrainTimeout: D(DefaultDrainTimeout), Undrainable: UndrainableFail}, s.Upgrade.Replace)

	// maxSurge 0 is a choice (retire first), not a missing field.
	s, err = Parse("t.yaml", []byte(base+"upgrade:\n  driver: replace\n  replace:\n    maxSurge: 0\n    soak: 30s\n    undrainable: cordon\n"))
	require.NoError(t, err)
	assert.Equal(t, 0, s.Upgrade.Replace.MaxSurge)
	assert.Equal(t, 1, s.Upgrade.Replace.MaxUnavailable)
	assert.Equal(t, UndrainableCordon, s.Upgrade.Replace.Undrainable)
	assert.Equal(t, D(30e9), s.Upgrade.Replace.Soak)
}

func TestHopsAndDrills(t *testing.T) {
	s, err := Parse("t.yaml", []byte(base+"upgrade:\n  targets: [v1.36.3, v1.37.2]\n"))
	require.NoError(t, err)
	assert.Equal(t, "v1.37.2", s.Upgrade.Target, "the last hop is the target")
	assert.Equal(t, []string{"v1.36.3", "v1.37.2"}, s.Upgrade.Hops())

	s, err = Parse("t.yaml", []byte(base+"upgrade:\n  driver: none\n  faults:\n    - kind: kubelet\n      nodes: [worker]\n"))
	require.NoError(t, err)
	assert.Equal(t, s.Cluster.KubernetesVersion, s.Upgrade.Target, "a drill stays at the cluster's version")
	assert.Equal(t, []string{s.Cluster.KubernetesVersion}, s.Upgrade.Hops())
}
