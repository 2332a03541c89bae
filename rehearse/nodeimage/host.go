package nodeimage

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// ContainersConf is podman's system configuration file.
const ContainersConf = "/etc/containers/containers.conf"

// defaultUlimits are rlimits podman can set on a host whose capability
// bounding set lacks CAP_SYS_RESOURCE (its defaults fail there).
const defaultUlimits = `default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]`

// EnsureHost installs what building node images needs, when it is missing
// and this process is root on Debian: podman, runc and debootstrap from apt,
// podman's default_ulimits, and /lib/modules (which kind's podman provider
// bind-mounts). Progress lines go to progress (may be nil).
func EnsureHost(ctx context.Context, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	return ensureHost(ctx, &runner{log: io.Discard}, func(f string, a ...any) { fmt.Fprintf(progress, f+"\n", a...) })
}

func ensureHost(ctx context.Context, r *runner, progress func(string, ...any)) error {
	root := os.Geteuid() == 0
	var missing []string
	for _, tool := range []string{"podman", "runc", "debootstrap", "chroot", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		_, aptErr := exec.LookPath("apt-get")
		if !root || aptErr != nil {
			return fmt.Errorf("missing %s: install podman, runc and debootstrap (as root on Debian: apt-get install podman runc debootstrap)", strings.Join(missing, ", "))
		}
		progress("installing podman, runc and debootstrap with apt-get")
		env := cmdSpec{Env: []string{"DEBIAN_FRONTEND=noninteractive"}}
		if err := r.run(ctx, env, "apt-get", "update", "-qq"); err != nil {
			return err
		}
		if err := r.run(ctx, env, "apt-get", "install", "-y", "-qq", "podman", "runc", "debootstrap"); err != nil {
			return err
		}
	}
	if !root {
		return nil
	}
	conf, err := os.ReadFile(ContainersConf)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if patched, changed := PatchContainersConf(string(conf)); changed {
		progress("setting podman's default_ulimits in %s", ContainersConf)
		if err := writeFile(ContainersConf, []byte(patched), 0o644); err != nil {
			return err
		}
	}
	return os.MkdirAll("/lib/modules", 0o755)
}

// PatchContainersConf adds default_ulimits to the [containers] table of a
// containers.conf unless it sets them already.
func PatchContainersConf(conf string) (string, bool) {
	for _, line := range strings.Split(conf, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "default_ulimits") {
			return conf, false
		}
	}
	lines := strings.Split(conf, "\n")
	for i, line := range lines {
		if strings.TrimSpace(line) == "[containers]" {
			out := append([]string{}, lines[:i+1]...)
			out = append(out, defaultUlimits)
			out = append(out, lines[i+1:]...)
			return strings.Join(out, "\n"), true
		}
	}
	if conf != "" && !strings.HasSuffix(conf, "\n") {
		conf += "\n"
	}
	return conf + "[containers]\n" + defaultUlimits + "\n", true
}

// RuntimeArgs are podman's global flags for the containers of a build: runc
// when it is installed, because crun refuses hosts whose cgroup v1 hierarchy
// also has controllers on the unified hierarchy ("cgroups in hybrid mode not
// supported"), whatever containers.conf says.
func RuntimeArgs() []string {
	if _, err := exec.LookPath("runc"); err == nil {
		return []string{"--runtime", "runc"}
	}
	return nil
}
