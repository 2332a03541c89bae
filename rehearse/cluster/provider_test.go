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
