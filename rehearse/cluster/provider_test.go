package cluster

import (
	"reflect"
	"testing"
)

func TestParseNodeRowsAndFilter(t *testing.T) {
	out := "/drill-control-plane\tdrill\tv1.35.4\tcontrol-plane\trunning\n" +
		"drill-worker\tdrill\tv1.35.4\tworker\trunning\n" +
		"drill-worker2\tdrill\tv1.35.4\tworker\texited\n" +
		"other-control-plane\tother\t\tcontrol-plane\trunning\n" + // a kind cluster from kind's own images
		"half-control-plane\thalf\tv1.36.3\tcontrol-plane\tcreated\n" +
		"\n" +
		"garbage line\n"
	rows := parseNodeRows(out)
	if len(rows) != 5 || rows[0].Container != "drill-control-plane" {
		t.Fatalf("rows %+v", rows)
	}
	got := rehearseClusters(rows)
	want := []Info{
		{Name: "drill", Kubernetes: "v1.35.4",
			Nodes:  []string{"drill-control-plane", "drill-worker", "drill-worker2"},
			Roles:  map[string]int{"control-plane": 1, "worker": 2},
			States: map[string]int{"running": 2, "exited": 1}},
		{Name: "half", Kubernetes: "v1.36.3",
			Nodes:  []string{"half-control-plane"},
			Roles:  map[string]int{"control-plane": 1},
			States: map[string]int{"created": 1}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestRehearseClustersLoadBalancer(t *testing.T) {
	// kind's load balancer comes from another image and lacks our label:
	// the cluster is still ours through its nodes.
	rows := []nodeRow{
		{Container: "ha-external-load-balancer", Cluster: "ha", Role: "external-load-balancer", State: "running"},
		{Container: "ha-control-plane", Cluster: "ha", Kubernetes: "v1.35.4", Role: "control-plane", State: "running"},
	}
	got := rehearseClusters(rows)
	if len(got) != 1 || len(got[0].Nodes) != 2 {
		t.Errorf("got %+v", got)
	}
	if rehearseClusters(nil) != nil {
		t.Errorf("no rows, no clusters")
	}
}

func TestKindNodeVolumes(t *testing.T) {
	out := "v1\t{\"drill-control-plane\":\"true\"}\n" +
		"v2\t{\"drill-worker\":\"true\"}\n" +
		"v3\t{\"drill-worker12\":\"true\"}\n" +
		"v4\t{\"drill-external-load-balancer\":\"true\"}\n" +
		"o1\t{\"drill-worker-control-plane\":\"true\"}\n" + // cluster drill-worker
		"o2\t{\"drill2-worker\":\"true\"}\n" + // cluster drill2
		"o3\t{\"drill-worker\":\"true\",\"keep\":\"me\"}\n" + // not kind's
		"o4\t{\"drill-worker\":\"false\"}\n" +
		"o5\t{\"drill-worker1\":\"true\"}\n" + // kind never numbers the first
		"o6\tnull\n" +
		"o7\t{}\n" +
		"o8\t{\"xdrill-worker\":\"true\"}\n" +
		"\n"
	rows := parseVolumeRows(out)
	if len(rows) != 12 {
		t.Fatalf("rows %+v", rows)
	}
	got := kindNodeVolumes(rows, "drill")
	if want := []string{"v1", "v2", "v3", "v4"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := kindNodeVolumes(rows, "drill-worker"); !reflect.DeepEqual(got, []string{"o1"}) {
		t.Errorf("drill-worker: got %v", got)
	}
	if got := kindNodeVolumes(rows, "dr.ll"); got != nil {
		t.Errorf("a name is not a pattern: got %v", got)
	}
}

func TestParseStat(t *testing.T) {
	comm, ppid, ok := parseStat("4242 (podman) S 17 4242 17 0 -1 4194560 ...")
	if !ok || comm != "podman" || ppid != 17 {
		t.Errorf("got %q %d %v", comm, ppid, ok)
	}
	comm, ppid, ok = parseStat("7 (a (b) c) R 1 7 7")
	if !ok || comm != "a (b) c" || ppid != 1 {
		t.Errorf("got %q %d %v", comm, ppid, ok)
	}
	if _, _, ok := parseStat("garbage"); ok {
		t.Errorf("garbage parsed")
	}
}

func TestResolvedTo(t *testing.T) {
	if !resolvedTo("kubernetes.default -> 10.96.0.1\n", "kubernetes.default", "10.96.0.1") {
		t.Errorf("an answer not understood")
	}
	for _, out := range []string{
		"kubernetes.default: lookup kubernetes.default on 10.96.0.10:53: no such host\n",
		"kubernetes.default -> 10.96.0.10\n", // the ClusterIP is a prefix of DNS's
		"xkubernetes.default -> 10.96.0.1\n",
		"kubernetes.default.svc -> 10.96.0.1\n",
		"",
	} {
		if resolvedTo(out, "kubernetes.default", "10.96.0.1") {
			t.Errorf("%q taken for an answer", out)
		}
	}
}
