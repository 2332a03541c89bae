package cluster

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The doctor on this very machine, made to miss prerequisites without
// touching the machine: an empty PATH (no container engine), a modules
// folder and a containers.conf that do not exist, a Kubernetes version
// nobody built. Each missing prerequisite is named, with its fix.
func TestDoctorRealHostMissingEngine(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", filepath.Join(dir, "empty-bin"))
	d := NewDoctor(LocalHost{}, "v9.9.9")
	d.Executable = ""
	d.ModulesDir = filepath.Join(dir, "lib", "modules")
	d.ContainersConf = filepath.Join(dir, "containers.conf")
	d.StorageDir = dir
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	results := d.Run(ctx, false, func(r Result) { WriteResult(&out, r) })
	t.Logf("doctor with PATH=%s:\n%s", filepath.Join(dir, "empty-bin"), out.String())
	if Healthy(results) {
		t.Errorf("healthy with no engine")
	}
	for _, want := range []struct{ check, msg, fix string }{
		{"lib-modules", d.ModulesDir + " is missing", "mkdir -p " + d.ModulesDir},
		{"podman", "podman is not installed", "apt-get install -y podman"},
		{"engine", "no engine runs privileged containers", "apt-get install -y podman"},
		{"node-image", "Kubernetes v9.9.9", "rehearse images build --kubernetes v9.9.9"},
	} {
		r := resultOf(t, results, want.check)
		if r.Status != StatusFail || !strings.Contains(r.Message, want.msg) || !strings.Contains(r.Fix, want.fix) {
			t.Errorf("%s: got %s %q (fix %q), want FAIL with %q (fix %q)", want.check, r.Status, r.Message, r.Fix, want.msg, want.fix)
		}
		if !strings.Contains(out.String(), want.msg) {
			t.Errorf("the report does not name %q", want.msg)
		}
	}
}

// With the real podman: a containers.conf without default_ulimits and a
// node image nobody built are named. Only reads (podman images); the
// privileged probe is taken as passed so that no container runs.
func TestDoctorRealHostMissingImageAndUlimits(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed")
	}
	d := NewDoctor(LocalHost{}, "v9.9.9")
	d.ContainersConf = filepath.Join(t.TempDir(), "containers.conf")
	d.probes = map[string]error{EnginePodman: nil}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	r := checkUlimits(ctx, d)
	if r.Status != StatusFail || !strings.Contains(r.Message, d.ContainersConf+" sets no nofile, nproc") || !strings.Contains(r.Fix, "default_ulimits") {
		t.Errorf("podman-ulimits: got %s %q (fix %q)", r.Status, r.Message, r.Fix)
	}
	r = checkNodeImage(ctx, d, "v9.9.9")
	if r.Status != StatusFail || !strings.Contains(r.Message, "no node image for Kubernetes v9.9.9 in podman") {
		t.Errorf("node-image: got %s %q (fix %q)", r.Status, r.Message, r.Fix)
	}
}
