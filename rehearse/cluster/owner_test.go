package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// fakeProc is a /proc with this process (in pid namespace 4026531836) and
// the given other processes (pid → start time).
func fakeProc(t *testing.T, boot string, others map[int]uint64) procFS {
	t.Helper()
	root := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "self", "ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("pid:[4026531836]", filepath.Join(root, "self", "ns", "pid")); err != nil {
		t.Fatal(err)
	}
	write("sys/kernel/random/boot_id", boot+"\n")
	stat := func(pid int, start uint64) string {
		// A command name with a space and a parenthesis, as a process may
		// have: the fields are counted from the last ')'.
		return fmt.Sprintf("%d (go (test) x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 %d 19 20\n", pid, start)
	}
	write(filepath.Join(strconv.Itoa(os.Getpid()), "stat"), stat(os.Getpid(), 1000))
	for pid, start := range others {
		write(filepath.Join(strconv.Itoa(pid), "stat"), stat(pid, start))
	}
	return procFS{root: root}
}

func TestOwnerMarkRoundTrip(t *testing.T) {
	proc := fakeProc(t, "0b1c-2d3e", nil)
	self, err := proc.self()
	if err != nil {
		t.Fatal(err)
	}
	want := Owner{PIDNamespace: "4026531836", PID: os.Getpid(), Start: 1000, Boot: "0b1c2d3e"}
	if self != want {
		t.Fatalf("self = %#v, want %#v", self, want)
	}
	got, ok := parseOwnerMark(self.mark())
	if !ok || got != self {
		t.Fatalf("parseOwnerMark(%q) = %+v, %v; want %+v", self.mark(), got, ok, self)
	}
	for _, bad := range []string{"", "a.b.c", "ns.0.1.boot", "ns.-3.1.boot", "ns.12.x.boot", "ns.12.1.", ".12.1.boot", "ns.12.1.boot.extra"} {
		if o, ok := parseOwnerMark(bad); ok {
			t.Errorf("parseOwnerMark(%q) = %+v, accepted", bad, o)
		}
	}
}

func TestOwnerState(t *testing.T) {
	proc := fakeProc(t, "boot1", map[int]uint64{4242: 77})
	self, err := proc.self()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		owner Owner
		want  OwnerState
	}{
		{"itself", self, OwnerAlive},
		{"another live process", Owner{PIDNamespace: self.PIDNamespace, PID: 4242, Start: 77, Boot: "boot1"}, OwnerAlive},
		{"pid reused by a later process", Owner{PIDNamespace: self.PIDNamespace, PID: 4242, Start: 76, Boot: "boot1"}, OwnerGone},
		{"no such process", Owner{PIDNamespace: self.PIDNamespace, PID: 999999, Start: 5, Boot: "boot1"}, OwnerGone},
		{"made before the machine rebooted", Owner{PIDNamespace: self.PIDNamespace, PID: 4242, Start: 77, Boot: "boot0"}, OwnerGone},
		{"another pid namespace", Owner{PIDNamespace: "4026532000", PID: 999999, Start: 5, Boot: "boot1"}, OwnerUnknown},
	}
	for _, tc := range cases {
		if got := proc.stateOf(tc.owner, self); got != tc.want {
			t.Errorf("%s: state %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestMarkOwnerMountsOnEveryNode(t *testing.T) {
	cfg := &v1alpha4.Cluster{Nodes: []v1alpha4.Node{{Role: v1alpha4.ControlPlaneRole}, {Role: v1alpha4.WorkerRole}}}
	o := Owner{PIDNamespace: "1", PID: 2, Start: 3, Boot: "b"}
	markOwner(cfg, o)
	for i, n := range cfg.Nodes {
		var dests []string
		for _, m := range n.ExtraMounts {
			dests = append(dests, m.ContainerPath)
			if m.HostPath != "/dev/null" || !m.Readonly {
				t.Errorf("node %d: mount %+v, want /dev/null read-only", i, m)
			}
		}
		if got, ok := ownerOfMounts(dests); !ok || got != o {
			t.Errorf("node %d: owner %+v, %v from %v; want %+v", i, got, ok, dests, o)
		}
	}
}

// TestOrphans lists three clusters through a fake engine: one whose owner
// is gone, one whose owner runs, one made to be kept. Only the first is an
// orphan.
func TestOrphans(t *testing.T) {
	proc := fakeProc(t, "boot1", map[int]uint64{4242: 77})
	self, err := proc.self()
	if err != nil {
		t.Fatal(err)
	}
	gone := Owner{PIDNamespace: self.PIDNamespace, PID: 4242, Start: 70, Boot: "boot1"}
	live := Owner{PIDNamespace: self.PIDNamespace, PID: 4242, Start: 77, Boot: "boot1"}
	row := func(node, cluster string, o *Owner) string {
		mounts := RunMarkDir + "/r1;/var;"
		if o != nil {
			mounts += OwnerMarkDir + "/" + o.mark() + ";"
		}
		return fmt.Sprintf("/%s\t%s\tv1.35.4\tcontrol-plane\trunning\t%s\n", node, cluster, mounts)
	}
	h := newFakeHost()
	h.commands["podman ps -a --filter label="+KindClusterLabel+" --format"] = fakeAnswer{out: "a\nb\nc\nd\n"}
	h.commands["podman inspect --format"] = fakeAnswer{out: row("orphan-control-plane", "orphan", &gone) + row("orphan-worker", "orphan", &gone) +
		row("live-control-plane", "live", &live) + row("kept-control-plane", "kept", nil)}
	p := &Provider{engine: EnginePodman, host: h, progress: io.Discard, proc: proc}
	got, err := p.Orphans(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "orphan" || got[0].Owner != gone || len(got[0].Nodes) != 2 {
		t.Fatalf("orphans = %+v, want only cluster orphan (2 nodes, owner %+v)", got, gone)
	}
	list, err := p.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, in := range list {
		s, ok := p.OwnerState(in)
		states[in.Name] = fmt.Sprint(s, ok)
	}
	want := map[string]string{"orphan": "gone true", "live": "running true", "kept": "running false"}
	for name, w := range want {
		if states[name] != w {
			t.Errorf("cluster %s: owner state %q, want %q", name, states[name], w)
		}
	}
}
