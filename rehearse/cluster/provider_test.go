package cluster

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		"v5\t{\"drill-worker2-v1-36-3\":\"true\"}\n" + // a node the replace driver made
		"o9\t{\"drill-worker-v1-36-3-control-plane\":\"true\"}\n" + // cluster drill-worker-v1-36-3
		"\n"
	rows := parseVolumeRows(out)
	if len(rows) != 14 {
		t.Fatalf("rows %+v", rows)
	}
	got := kindNodeVolumes(rows, "drill")
	if want := []string{"v1", "v2", "v3", "v4", "v5"}; !reflect.DeepEqual(got, want) {
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

func TestDefaultStateDirFallback(t *testing.T) {
	home := func() (string, error) { return "/home/u/.cache", nil }
	noHome := func() (string, error) { return "", errors.New("neither $XDG_CACHE_HOME nor $HOME are defined") }
	if got, want := defaultStateDir(home, "/tmp", 1000), "/home/u/.cache/rehearse/clusters"; got != want {
		t.Errorf("with a cache folder: %s, want %s", got, want)
	}
	// Without a cache folder: a folder of this user's own in /tmp, never
	// the shared /tmp/rehearse/clusters.
	if got, want := defaultStateDir(noHome, "/tmp", 1000), "/tmp/rehearse-1000/clusters"; got != want {
		t.Errorf("without a cache folder: %s, want %s", got, want)
	}
}

func TestPrivateDir(t *testing.T) {
	uid := os.Getuid()
	tests := []struct {
		name string
		// prepare makes what is already there, in tmp; it returns the
		// state folder to ask for.
		prepare func(t *testing.T, tmp string) string
		uid     int
		want    string // part of the error; empty: no error
	}{
		{"new folders are made 0700", func(t *testing.T, tmp string) string {
			return filepath.Join(tmp, "rehearse-7", "clusters")
		}, uid, ""},
		{"an existing private folder of ours", func(t *testing.T, tmp string) string {
			mkdir(t, filepath.Join(tmp, "rehearse-7", "clusters"), 0o700)
			return filepath.Join(tmp, "rehearse-7", "clusters")
		}, uid, ""},
		{"a world-writable folder in tmp", func(t *testing.T, tmp string) string {
			mkdir(t, filepath.Join(tmp, "rehearse-7"), 0o777)
			return filepath.Join(tmp, "rehearse-7", "clusters")
		}, uid, "has mode 0777: others may write into it"},
		{"a group-writable state folder", func(t *testing.T, tmp string) string {
			mkdir(t, filepath.Join(tmp, "rehearse-7", "clusters"), 0o770)
			return filepath.Join(tmp, "rehearse-7", "clusters")
		}, uid, "has mode 0770"},
		{"a folder in tmp owned by someone else", func(t *testing.T, tmp string) string {
			mkdir(t, filepath.Join(tmp, "rehearse-7"), 0o700)
			return filepath.Join(tmp, "rehearse-7", "clusters")
		}, uid + 1, "not by this user"},
		{"a symbolic link in tmp", func(t *testing.T, tmp string) string {
			elsewhere := filepath.Join(tmp, "elsewhere")
			mkdir(t, elsewhere, 0o700)
			if err := os.Symlink(elsewhere, filepath.Join(tmp, "rehearse-7")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(tmp, "rehearse-7", "clusters")
		}, uid, "is not a folder"},
		{"outside tmp only the state folder counts", func(t *testing.T, tmp string) string {
			home := t.TempDir()
			if err := os.Chmod(home, 0o775); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(home, "clusters")
		}, uid, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			dir := tc.prepare(t, tmp)
			err := privateDir(dir, tmp, tc.uid)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
					t.Errorf("state folder %s: %v, mode %v; want 0700", dir, err, st.Mode().Perm())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %v; want one naming %s and saying %q", err, dir, tc.want)
			}
		})
	}
}

func mkdir(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestKindnetInImage(t *testing.T) {
	tests := []struct {
		name, source, wantErr string
	}{
		{name: "built from source", source: "built\n", wantErr: "cni kindnet: node image localhost/rehearse/node:v1.35.4 was built from source and has no kindnetd"},
		{name: "kind's published image", source: "upstream\n"},
		{name: "a node image rehearse did not label", source: "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost()
			h.commands["podman image inspect --format"] = fakeAnswer{out: tc.source}
			p := &Provider{engine: EnginePodman, host: h, progress: io.Discard}
			err := p.kindnetInImage(context.Background(), "localhost/rehearse/node:v1.35.4")
			if tc.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Contains(t, err.Error(), "use cni: flannel")
			assert.Contains(t, h.ran[0], "io.rehearse.source", "the label the node image builders set")
		})
	}
}
