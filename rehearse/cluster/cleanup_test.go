package cluster

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

func TestMarkNodes(t *testing.T) {
	cfg := &v1alpha4.Cluster{Nodes: []v1alpha4.Node{
		{Role: v1alpha4.ControlPlaneRole},
		{Role: v1alpha4.WorkerRole, ExtraMounts: []v1alpha4.Mount{{HostPath: "/data", ContainerPath: "/data"}}},
	}}
	markNodes(cfg, "r1")
	mark := v1alpha4.Mount{HostPath: "/dev/null", ContainerPath: "/etc/rehearse-run/r1", Readonly: true}
	if got := cfg.Nodes[0].ExtraMounts; !reflect.DeepEqual(got, []v1alpha4.Mount{mark}) {
		t.Errorf("control plane mounts %+v", got)
	}
	if got := cfg.Nodes[1].ExtraMounts; len(got) != 2 || got[1] != mark {
		t.Errorf("worker mounts %+v: want its own mount kept and the mark added", got)
	}
	if a, b := newRunID(), newRunID(); a == b || len(a) != 12 {
		t.Errorf("run ids %q and %q: want two different random ids", a, b)
	}
}

// engineState is what the fake engine holds for cluster demo: node
// containers (with their mounts), volumes, and kind's network.
type engineState struct {
	ps, inspect, volumes, allNodes string
}

// Containers of cluster demo: one of another run (aaa), one of run r1
// (bbb), kind's load balancer (ccc, which cannot carry a mark).
const (
	otherRunRow = "aaa\t/demo-control-plane\tcontrol-plane\t/var|volA;/lib/modules|;/etc/rehearse-run/r2|;"
	ourRow      = "bbb\t/demo-worker\tworker\t/var|volB;/lib/modules|;/etc/rehearse-run/r1|;"
	lbRow       = "ccc\t/demo-external-load-balancer\texternal-load-balancer\t"
	plainKind   = "ddd\t/demo-worker2\tworker\t/var|volD;"
	volumes     = "volA\t{\"demo-control-plane\":\"true\"}\n" +
		"volB\t{\"demo-worker\":\"true\"}\n" +
		"volC\t{\"demo-worker2\":\"true\"}\n" + // made by a create of demo after run r1's began, no container yet
		"volOld\t{\"demo-worker3\":\"true\"}\n" + // there before run r1's create
		"mine\t{\"keep\":\"yes\"}\n"
)

func fakeEngine(engine string, st engineState) *fakeHost {
	h := newFakeHost()
	h.commands[engine+" ps -a --filter label=io.x-k8s.kind.cluster=demo"] = fakeAnswer{out: st.ps}
	h.commands[engine+" ps -a --filter label=io.x-k8s.kind.cluster --format"] = fakeAnswer{out: st.allNodes}
	h.commands[engine+" inspect --format '{{.Id}}"] = fakeAnswer{out: st.inspect}
	h.commands[engine+" inspect --format '{{.Name}}"] = fakeAnswer{out: "x\tdemo\tv1.35.4\tworker\trunning\n"}
	h.commands[engine+" volume ls"] = fakeAnswer{out: st.volumes}
	h.commands[engine+" rm"] = fakeAnswer{}
	h.commands[engine+" volume rm"] = fakeAnswer{}
	h.commands[engine+" network inspect kind"] = fakeAnswer{out: "[]"}
	h.commands[engine+" network rm kind"] = fakeAnswer{}
	return h
}

// removals lists the commands that removed something.
func removals(h *fakeHost) []string {
	var out []string
	for _, l := range h.ran {
		if strings.Contains(l, " rm") {
			out = append(out, l)
		}
	}
	return out
}

// A failed create removes only what its own run made: never the node
// containers or volumes of another run that picked the same cluster name,
// nor those of a cluster plain kind made, nor volumes that were there before.
func TestRemoveMadeKeepsOtherRuns(t *testing.T) {
	tests := []struct {
		name       string
		engine     string
		st         engineState
		creation   creation
		want       []string // removal commands, in order
		wantLeft   []string
		keepsDir   bool
		keepsOther bool
	}{
		{
			name:   "another run holds the name",
			engine: EnginePodman,
			st: engineState{ps: "aaa\nbbb\nccc\n", inspect: otherRunRow + "\n" + ourRow + "\n" + lbRow + "\n",
				volumes: volumes, allNodes: "aaa\nccc\n"},
			creation: creation{cluster: "demo", volumesBefore: map[string]bool{"volOld": true, "mine": true}, networkBefore: true},
			want:     []string{"podman rm -f -v bbb", "podman volume rm volB"},
			wantLeft: []string{"container demo-worker", "volume volB"},
		},
		{
			name:   "plain kind's cluster of the same name",
			engine: EnginePodman,
			st: engineState{ps: "bbb\nddd\n", inspect: ourRow + "\n" + plainKind + "\n",
				volumes: volumes + "volD\t{\"demo-worker2\":\"true\"}\n", allNodes: "ddd\n"},
			creation: creation{cluster: "demo", volumesBefore: map[string]bool{"volOld": true, "mine": true}},
			want:     []string{"podman rm -f -v bbb", "podman volume rm volB"},
		},
		{
			name:   "alone: the load balancer and new orphan volumes are this run's",
			engine: EnginePodman,
			st:     engineState{ps: "bbb\nccc\n", inspect: ourRow + "\n" + lbRow + "\n", volumes: volumes, allNodes: ""},
			creation: creation{cluster: "demo", volumesBefore: map[string]bool{"volOld": true, "mine": true},
				networkBefore: false, dirMade: true},
			want: []string{"podman rm -f -v bbb ccc", "podman volume rm volA volB volC", "podman network rm kind"},
		},
		{
			name:   "alone on docker: no volumes to remove, the network was there",
			engine: EngineDocker,
			st:     engineState{ps: "bbb\n", inspect: ourRow + "\n", allNodes: ""},
			creation: creation{cluster: "demo", volumesBefore: map[string]bool{},
				networkBefore: true},
			want: []string{"docker rm -f -v bbb"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := fakeEngine(tc.engine, tc.st)
			p := &Provider{engine: tc.engine, host: h, progress: io.Discard, stateDir: t.TempDir(), run: "r1"}
			dir := filepath.Dir(p.KubeconfigPath("demo"))
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			c := tc.creation
			if err := p.removeMade(context.Background(), &c); err != nil {
				t.Fatal(err)
			}
			if got := removals(h); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("removed:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			_, err := os.Stat(dir)
			if c.dirMade != os.IsNotExist(err) {
				t.Errorf("kubeconfig folder made by the create: %v; still there: %v", c.dirMade, err == nil)
			}
			if tc.wantLeft != nil {
				left, err := p.madeLeftovers(context.Background(), &c)
				if err != nil || !reflect.DeepEqual(left, tc.wantLeft) {
					t.Errorf("leftovers %v %v; want %v", left, err, tc.wantLeft)
				}
			}
		})
	}
}

// Stopping kind's create removes this run's node containers only.
func TestRemoveMadeContainers(t *testing.T) {
	h := fakeEngine(EnginePodman, engineState{ps: "aaa\nbbb\nccc\n", inspect: otherRunRow + "\n" + ourRow + "\n" + lbRow + "\n"})
	p := &Provider{engine: EnginePodman, host: h, progress: io.Discard, run: "r1"}
	if err := p.removeMadeContainers(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	if got, want := removals(h), []string{"podman rm -f -v bbb"}; !reflect.DeepEqual(got, want) {
		t.Errorf("removed %v, want %v", got, want)
	}
}
