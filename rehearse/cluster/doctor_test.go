package cluster

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/fstest"
)

func resultOf(t *testing.T, results []Result, check string) Result {
	t.Helper()
	for _, r := range results {
		if r.Check == check {
			return r
		}
	}
	t.Fatalf("no result for check %q", check)
	return Result{}
}

func TestDoctorChecks(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(h *fakeHost)
		check   string
		want    Status
		msg     string // in the message
		fix     string // in the fix
		healthy bool
	}{
		{name: "all good", check: "engine", want: StatusOK, msg: "podman runs privileged", healthy: true},
		{
			name:  "missing podman",
			setup: func(h *fakeHost) { delete(h.paths, "podman") },
			check: "podman", want: StatusFail, msg: "not installed", fix: "apt-get install -y podman",
		},
		{
			name: "missing podman but docker works",
			setup: func(h *fakeHost) {
				delete(h.paths, "podman")
				h.paths["docker"] = true
				h.commands["docker info"] = fakeAnswer{out: "28.2.2\n"}
				h.commands["docker image inspect"] = fakeAnswer{out: "sha256:1\n"}
				h.commands["docker run --rm --privileged"] = fakeAnswer{}
				h.commands["docker images"] = fakeAnswer{out: "localhost/rehearse/node:v1.35.4\n"}
			},
			check: "podman", want: StatusWarn, msg: "Docker runs privileged", healthy: true,
		},
		{
			name: "docker privileged failure",
			setup: func(h *fakeHost) {
				h.paths["docker"] = true
				h.commands["docker info"] = fakeAnswer{out: "20.10.24\n"}
				h.commands["docker image inspect"] = fakeAnswer{out: "sha256:1\n"}
				h.commands["docker run --rm --privileged"] = fakeAnswer{err: "docker: Error response from daemon: failed to create shim task: OCI runtime create failed: unable to apply caps: operation not permitted"}
			},
			check: "docker", want: StatusWarn, msg: "bounding set", fix: "--provider podman", healthy: true,
		},
		{
			name: "docker and podman both fail",
			setup: func(h *fakeHost) {
				h.paths["docker"] = true
				h.commands["docker info"] = fakeAnswer{out: "20.10.24\n"}
				h.commands["docker image inspect"] = fakeAnswer{out: "sha256:1\n"}
				h.commands["docker run --rm --privileged"] = fakeAnswer{err: "unable to apply caps: operation not permitted"}
				h.commands["podman run --rm --privileged"] = fakeAnswer{err: "Error: OCI runtime error: crun: error setting rlimit type 7"}
			},
			check: "engine", want: StatusFail, msg: "rlimit", fix: "default_ulimits",
		},
		{
			name:  "missing ulimits",
			setup: func(h *fakeHost) { delete(h.files, "etc/containers/containers.conf") },
			check: "podman-ulimits", want: StatusFail, msg: "sets no nofile, nproc", fix: `default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]`,
		},
		{
			name: "half the ulimits",
			setup: func(h *fakeHost) {
				h.files["etc/containers/containers.conf"] = &fstest.MapFile{Data: []byte("[containers]\ndefault_ulimits = [\"nofile=20000:20000\"]\n")}
			},
			check: "podman-ulimits", want: StatusFail, msg: "sets no nproc",
		},
		{
			name:  "missing /lib/modules",
			setup: func(h *fakeHost) { delete(h.files, "lib/modules") },
			check: "lib-modules", want: StatusFail, msg: "/lib/modules is missing", fix: "mkdir -p /lib/modules",
		},
		{
			name:  "low disk",
			setup: func(h *fakeHost) { h.free = 5 << 30 },
			check: "disk", want: StatusWarn, msg: "5.0 GiB free", healthy: true,
		},
		{
			name: "disk of podman's configured graph root",
			setup: func(h *fakeHost) {
				h.free = 5 << 30
				h.commands["podman info --format"] = fakeAnswer{out: "/srv/containers/storage\n"}
			},
			check: "disk", want: StatusWarn, msg: "5.0 GiB free for /srv/containers/storage", healthy: true,
		},
		{
			name: "missing image",
			setup: func(h *fakeHost) {
				h.commands["podman images --filter label=io.rehearse.kubernetes=v1.35.4"] = fakeAnswer{out: ""}
			},
			check: "node-image", want: StatusFail, msg: "no node image for Kubernetes v1.35.4", fix: "--kubernetes v1.35.4",
		},
		{
			name: "crun on hybrid cgroups",
			setup: func(h *fakeHost) {
				h.files["sys/fs/cgroup/unified/cgroup.controllers"] = &fstest.MapFile{Data: []byte("hugetlb\n")}
				h.commands["podman info"] = fakeAnswer{out: "crun\n"}
			},
			check: "podman-runtime", want: StatusFail, msg: "hybrid", fix: `runtime = "runc"`,
		},
		{
			name:  "no ip_vs",
			check: "ip_vs", want: StatusWarn, msg: "ipvs is unavailable", healthy: true,
		},
		{
			name: "ip_vs built in",
			setup: func(h *fakeHost) {
				h.files["proc/net/ip_vs"] = &fstest.MapFile{}
			},
			check: "ip_vs", want: StatusOK, healthy: true,
		},
		{
			name:  "cgroup v1 noted",
			check: "cgroup", want: StatusOK, msg: "failCgroupV1", healthy: true,
		},
		{
			name: "no static binary for the probe",
			setup: func(h *fakeHost) {
				h.commands["podman image inspect"] = fakeAnswer{err: "Error: localhost/rehearse/probe:1: image not known"}
			},
			check: "engine", want: StatusFail, msg: "no static binary", fix: "busybox-static",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := healthyHost()
			if tc.setup != nil {
				tc.setup(h)
			}
			d := NewDoctor(h, "v1.35.4")
			d.Executable = ""
			results := d.Run(context.Background(), false, nil)
			r := resultOf(t, results, tc.check)
			if r.Status != tc.want || !strings.Contains(r.Message, tc.msg) || !strings.Contains(r.Fix, tc.fix) {
				t.Errorf("%s: got %s %q (fix %q), want %s with %q (fix with %q)", tc.check, r.Status, r.Message, r.Fix, tc.want, tc.msg, tc.fix)
			}
			if got := Healthy(results); got != tc.healthy {
				var buf bytes.Buffer
				for _, r := range results {
					WriteResult(&buf, r)
				}
				t.Errorf("Healthy = %v, want %v:\n%s", got, tc.healthy, buf.String())
			}
		})
	}
}

func TestDoctorFix(t *testing.T) {
	h := healthyHost()
	delete(h.files, "lib/modules")
	h.files["etc/containers/containers.conf"] = &fstest.MapFile{Data: []byte("# site settings\n[engine]\nevents_logger = \"file\"\n")}
	d := NewDoctor(h, "")
	results := d.Run(context.Background(), true, nil)
	for _, name := range []string{"lib-modules", "podman-ulimits"} {
		r := resultOf(t, results, name)
		if r.Status != StatusOK || !r.Fixed {
			t.Errorf("%s: got %s fixed=%v (%v), want fixed", name, r.Status, r.Fixed, r.FixErr)
		}
	}
	if fi, err := h.Stat("/lib/modules"); err != nil || !fi.Mode().IsDir() {
		t.Errorf("/lib/modules not made: %v", err)
	}
	conf, _ := h.ReadFile(DefaultContainersConf)
	if !strings.Contains(string(conf), "# site settings") || !strings.Contains(string(conf), `events_logger = "file"`) {
		t.Errorf("merge lost the existing settings:\n%s", conf)
	}
	if !Healthy(results) {
		t.Errorf("not healthy after fixing")
	}
}

func TestDoctorFixNotRoot(t *testing.T) {
	h := healthyHost()
	h.root = false
	delete(h.files, "lib/modules")
	results := NewDoctor(h, "").Run(context.Background(), true, nil)
	r := resultOf(t, results, "lib-modules")
	if r.Status != StatusFail || r.FixErr == nil || r.Fix != "mkdir -p /lib/modules" {
		t.Errorf("got %+v, want a failure with the fix printed and the repair refused", r)
	}
}

func TestDoctorInstallsPodman(t *testing.T) {
	h := healthyHost()
	delete(h.paths, "podman")
	// The fake apt "installs" podman.
	h.commands["env DEBIAN_FRONTEND=noninteractive apt-get"] = fakeAnswer{}
	d := NewDoctor(h, "")
	var lines bytes.Buffer
	calls := 0
	results := d.Run(context.Background(), true, func(r Result) {
		WriteResult(&lines, r)
		if r.Check == "podman" {
			calls++
		}
	})
	r := resultOf(t, results, "podman")
	if r.FixErr == nil {
		t.Errorf("podman still missing after a fake install must say the repair did not help: %+v", r)
	}
	found := false
	for _, c := range h.ran {
		if strings.Contains(c, "apt-get -o DPkg::Lock::Timeout=600 -q install -y podman") {
			found = true
		}
	}
	if !found {
		t.Errorf("no apt-get install podman in %q", h.ran)
	}
	if calls != 1 {
		t.Errorf("reported podman %d times", calls)
	}
}

func TestWriteResult(t *testing.T) {
	var buf bytes.Buffer
	WriteResult(&buf, Result{Check: "lib-modules", Status: StatusFail, Message: "/lib/modules is missing", Fix: "mkdir -p /lib/modules"})
	want := "FAIL  lib-modules     /lib/modules is missing\n                      fix: mkdir -p /lib/modules\n"
	if buf.String() != want {
		t.Errorf("got\n%q\nwant\n%q", buf.String(), want)
	}
}

func TestProbeTarAndStatic(t *testing.T) {
	if isStaticELF([]byte("#!/bin/sh\n")) {
		t.Errorf("a script is not a static ELF")
	}
	b, err := probeTar("busybox", []byte("x"))
	if err != nil || len(b) == 0 {
		t.Fatalf("probeTar: %v", err)
	}
}

// An upgrade needs two node images: the doctor checks each version given,
// once, and names the one that is missing.
func TestDoctorSeveralVersions(t *testing.T) {
	h := healthyHost()
	h.commands["podman images --filter label=io.rehearse.kubernetes=v1.36.3"] = fakeAnswer{out: ""}
	d := NewDoctor(h, "v1.35.4", "", "v1.36.3", "v1.35.4")
	d.Executable = ""
	if want := []string{"v1.35.4", "v1.36.3"}; strings.Join(d.Kubernetes, " ") != strings.Join(want, " ") {
		t.Fatalf("versions %q, want %q", d.Kubernetes, want)
	}
	results := d.Run(context.Background(), false, nil)
	var images []Result
	for _, r := range results {
		if r.Check == "node-image" {
			images = append(images, r)
		}
	}
	if len(images) != 2 {
		t.Fatalf("node-image results %+v, want one per version", images)
	}
	if images[0].Status != StatusOK || !strings.Contains(images[0].Message, "v1.35.4") {
		t.Errorf("v1.35.4: %+v, want ok", images[0])
	}
	if images[1].Status != StatusFail || !strings.Contains(images[1].Message, "no node image for Kubernetes v1.36.3") ||
		!strings.Contains(images[1].Fix, "rehearse images build --kubernetes v1.36.3") {
		t.Errorf("v1.36.3: %+v, want a failure naming it and its fix", images[1])
	}
	if Healthy(results) {
		t.Errorf("healthy with a node image missing")
	}
	if got := NewDoctor(h).Checks(); len(got) != len(NewDoctor(h, "").Checks()) || got[len(got)-1].Name == "node-image" {
		t.Errorf("no version, no node-image check")
	}
}
