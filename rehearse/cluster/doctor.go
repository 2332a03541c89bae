package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Status is the outcome of one check.
type Status int

const (
	StatusOK Status = iota
	StatusWarn
	StatusFail
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusWarn:
		return "WARN"
	default:
		return "FAIL"
	}
}

// Result is what one check found.
type Result struct {
	Check   string
	Status  Status
	Message string
	// Fix is the exact command or step that fixes the problem, for people.
	Fix string
	// Fixed says the doctor repaired the problem (with --fix).
	Fixed bool
	// FixErr is why a repair failed.
	FixErr error
}

// Check is one named prerequisite: how to find out, and, when the doctor
// can do it itself, how to repair it.
type Check struct {
	Name   string
	Run    func(ctx context.Context, d *Doctor) Result
	Repair func(ctx context.Context, d *Doctor) error
}

// Defaults of the doctor.
const (
	DefaultContainersConf = "/etc/containers/containers.conf"
	DefaultModulesDir     = "/lib/modules"
	DefaultStorageDir     = "/var/lib/containers"
	// MinFreeBytes is the free space below which the doctor warns: a
	// node image and three nodes' /var take a few GiB each.
	MinFreeBytes = 20 << 30
	// ProbeImage is the tiny local image the doctor starts as a privileged
	// container to prove an engine can run kind's nodes.
	ProbeImage = "localhost/rehearse/probe:1"
	// ProbeLabel marks the probe image.
	ProbeLabel = "io.rehearse.probe"
)

// PodmanUlimits are the default rlimits podman must give containers on these
// machines: podman's own defaults exceed the hard limits and every container
// fails to start ("error setting rlimit type 7").
var PodmanUlimits = []string{"nofile=20000:20000", "nproc=32768:32768"}

// Doctor checks the machine's prerequisites for kind clusters.
type Doctor struct {
	Host Host
	// Kubernetes are the versions whose node images must be present (an
	// upgrade needs the start's and the target's), in the order given.
	Kubernetes     []string
	ContainersConf string
	ModulesDir     string
	StorageDir     string
	// Executable is this program, a candidate static binary for the probe
	// image.
	Executable string

	probes map[string]error
}

// NewDoctor returns a doctor for the host with the default paths that also
// checks the node image of each Kubernetes version given (empty strings and
// repeats are ignored).
func NewDoctor(host Host, kubernetes ...string) *Doctor {
	exe, _ := os.Executable()
	var versions []string
	seen := map[string]bool{}
	for _, v := range kubernetes {
		v = strings.TrimSpace(v)
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		versions = append(versions, v)
	}
	return &Doctor{
		Host:           host,
		Kubernetes:     versions,
		ContainersConf: DefaultContainersConf,
		ModulesDir:     DefaultModulesDir,
		StorageDir:     DefaultStorageDir,
		Executable:     exe,
	}
}

// Checks lists the checks in the order they run: a repair may be needed by
// a later check (podman before its configuration before a privileged run).
func (d *Doctor) Checks() []Check {
	checks := []Check{
		{Name: "lib-modules", Run: checkModules, Repair: repairModules},
		{Name: "podman", Run: checkPodman, Repair: repairPodman},
		{Name: "podman-ulimits", Run: checkUlimits, Repair: repairUlimits},
		{Name: "podman-runtime", Run: checkRuntime, Repair: repairRuntime},
		{Name: "engine", Run: checkEngine, Repair: repairEngine},
		{Name: "docker", Run: checkDocker},
		{Name: "disk", Run: checkDisk},
		{Name: "cgroup", Run: checkCgroup},
		{Name: "ip_vs", Run: checkIPVS},
	}
	for _, v := range d.Kubernetes {
		checks = append(checks, Check{Name: "node-image", Run: func(ctx context.Context, d *Doctor) Result {
			return checkNodeImage(ctx, d, v)
		}})
	}
	return checks
}

// Run runs every check, repairing what it can when fix is set, and calls
// report with each result as it comes. It returns all results.
func (d *Doctor) Run(ctx context.Context, fix bool, report func(Result)) []Result {
	var results []Result
	for _, c := range d.Checks() {
		r := c.Run(ctx, d)
		r.Check = c.Name
		if r.Status == StatusFail && fix && c.Repair != nil {
			if err := c.Repair(ctx, d); err != nil {
				r.FixErr = err
			} else {
				d.probes = nil // the engines may work now
				again := c.Run(ctx, d)
				again.Check = c.Name
				again.Fixed = again.Status != StatusFail
				if again.Status == StatusFail {
					again.FixErr = errors.New("the repair ran but the check still fails")
				}
				r = again
			}
		}
		if report != nil {
			report(r)
		}
		results = append(results, r)
		if ctx.Err() != nil {
			break
		}
	}
	return results
}

// Healthy says no result failed (warnings allowed).
func Healthy(results []Result) bool {
	for _, r := range results {
		if r.Status == StatusFail {
			return false
		}
	}
	return true
}

// WriteResult prints one result as one line (and the fix on a second,
// indented, when the check did not pass).
func WriteResult(w io.Writer, r Result) {
	msg := r.Message
	if r.Fixed {
		msg += " (fixed)"
	}
	fmt.Fprintf(w, "%-4s  %-14s  %s\n", r.Status, r.Check, msg)
	if r.Status != StatusOK && r.Fix != "" {
		fmt.Fprintf(w, "      %-14s  fix: %s\n", "", r.Fix)
	}
	if r.FixErr != nil {
		fmt.Fprintf(w, "      %-14s  repair failed: %v\n", "", r.FixErr)
	}
}

func checkModules(_ context.Context, d *Doctor) Result {
	fi, err := d.Host.Stat(d.ModulesDir)
	if err != nil || !fi.IsDir() {
		return Result{Status: StatusFail,
			Message: d.ModulesDir + " is missing: kind bind-mounts it into every node (an empty folder will do)",
			Fix:     "mkdir -p " + d.ModulesDir}
	}
	return Result{Status: StatusOK, Message: d.ModulesDir + " exists"}
}

func repairModules(_ context.Context, d *Doctor) error {
	if !d.Host.IsRoot() {
		return errors.New("needs root")
	}
	return d.Host.MkdirAll(d.ModulesDir, 0o755)
}

const aptInstall = "apt-get install -y"

func checkPodman(ctx context.Context, d *Doctor) Result {
	if _, err := d.Host.LookPath("podman"); err != nil {
		st := StatusFail
		msg := "podman is not installed: kind's nodes run on podman here"
		if d.probe(ctx, EngineDocker) == nil {
			st, msg = StatusWarn, "podman is not installed (Docker runs privileged containers and will be used)"
		}
		return Result{Status: st, Message: msg, Fix: "apt-get update && " + aptInstall + " podman"}
	}
	out, err := d.Host.Run(ctx, "podman", "version", "--format", "{{.Client.Version}}")
	if err != nil {
		return Result{Status: StatusFail, Message: "podman does not answer: " + err.Error(), Fix: aptInstall + " --reinstall podman"}
	}
	return Result{Status: StatusOK, Message: "podman " + strings.TrimSpace(out)}
}

func repairPodman(ctx context.Context, d *Doctor) error {
	return d.aptInstall(ctx, "podman")
}

func (d *Doctor) aptInstall(ctx context.Context, pkgs ...string) error {
	if !d.Host.IsRoot() {
		return errors.New("installing packages needs root")
	}
	if _, err := d.Host.LookPath("apt-get"); err != nil {
		return errors.New("apt-get not found: install " + strings.Join(pkgs, " ") + " with this system's package manager")
	}
	// Wait for another apt run to release its lock rather than fail.
	aptArgs := []string{"DEBIAN_FRONTEND=noninteractive", "apt-get", "-o", "DPkg::Lock::Timeout=600", "-q"}
	install := append(append(append([]string{}, aptArgs...), "install", "-y"), pkgs...)
	if _, err := d.Host.Run(ctx, "env", install...); err == nil {
		return nil
	}
	if _, err := d.Host.Run(ctx, "env", append(append([]string{}, aptArgs...), "update")...); err != nil {
		return err
	}
	_, err := d.Host.Run(ctx, "env", install...)
	return err
}

func checkUlimits(ctx context.Context, d *Doctor) Result {
	fix := fmt.Sprintf("rehearse doctor --fix as root, or in %s, section [containers]: default_ulimits = %s", d.ContainersConf, tomlStrings(PodmanUlimits))
	if _, err := d.Host.LookPath("podman"); err != nil {
		return Result{Status: StatusWarn, Message: "podman is not installed; when it is, it needs default_ulimits", Fix: fix}
	}
	data, err := d.Host.ReadFile(d.ContainersConf)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Result{Status: StatusFail, Message: err.Error(), Fix: fix}
	}
	have, err := readUlimits(data)
	if err != nil {
		return Result{Status: StatusFail, Message: fmt.Sprintf("%s: %v", d.ContainersConf, err), Fix: fix}
	}
	if missing := missingUlimits(have); len(missing) > 0 {
		return Result{Status: StatusFail,
			Message: fmt.Sprintf("podman's default rlimits exceed this machine's hard limits (containers fail with \"error setting rlimit\"): %s sets no %s",
				d.ContainersConf, strings.Join(missing, ", ")),
			Fix: fix}
	}
	return Result{Status: StatusOK, Message: "default_ulimits " + tomlStrings(have)}
}

func repairUlimits(_ context.Context, d *Doctor) error {
	if !d.Host.IsRoot() {
		return errors.New("writing " + d.ContainersConf + " needs root")
	}
	data, err := d.Host.ReadFile(d.ContainersConf)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	merged, err := mergeUlimits(data, PodmanUlimits)
	if err != nil {
		return fmt.Errorf("%s: %w", d.ContainersConf, err)
	}
	if err := d.Host.MkdirAll(parent(d.ContainersConf), 0o755); err != nil {
		return err
	}
	return d.Host.WriteFile(d.ContainersConf, merged, 0o644)
}

// hybridCgroups says the host has cgroup v1 with controllers also on the
// unified (v2) hierarchy, a layout crun refuses.
func hybridCgroups(h Host) bool {
	if CgroupV2(h) {
		return false
	}
	b, err := h.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
	return err == nil && strings.TrimSpace(string(b)) != ""
}

func checkRuntime(ctx context.Context, d *Doctor) Result {
	if _, err := d.Host.LookPath("podman"); err != nil {
		return Result{Status: StatusOK, Message: "podman is not installed"}
	}
	out, err := d.Host.Run(ctx, "podman", "info", "--format", "{{.Host.OCIRuntime.Name}}")
	if err != nil {
		return Result{Status: StatusFail, Message: "podman info: " + err.Error()}
	}
	runtime := strings.TrimSpace(out)
	if runtime == "crun" && hybridCgroups(d.Host) {
		return Result{Status: StatusFail,
			Message: "podman's OCI runtime crun refuses this host's hybrid cgroups (v1 with controllers on the unified hierarchy: \"cgroups in hybrid mode not supported\"); runc runs them",
			Fix:     fmt.Sprintf(`%s runc; in %s, section [engine]: runtime = "runc"`, aptInstall, d.ContainersConf)}
	}
	return Result{Status: StatusOK, Message: "OCI runtime " + runtime}
}

func repairRuntime(ctx context.Context, d *Doctor) error {
	if _, err := d.Host.LookPath("runc"); err != nil {
		if err := d.aptInstall(ctx, "runc"); err != nil {
			return err
		}
	}
	data, err := d.Host.ReadFile(d.ContainersConf)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := d.Host.MkdirAll(parent(d.ContainersConf), 0o755); err != nil {
		return err
	}
	return d.Host.WriteFile(d.ContainersConf, setTOMLKey(data, "engine", "runtime", `"runc"`), 0o644)
}

func checkEngine(ctx context.Context, d *Doctor) Result {
	perr := d.probe(ctx, EnginePodman)
	if perr == nil {
		return Result{Status: StatusOK, Message: "podman runs privileged containers (kind's nodes are privileged)"}
	}
	if derr := d.probe(ctx, EngineDocker); derr == nil {
		return Result{Status: StatusOK, Message: "docker runs privileged containers (kind's nodes are privileged); podman does not: " + perr.Error()}
	}
	r := Result{Status: StatusFail, Message: "no engine runs privileged containers: podman: " + perr.Error()}
	var nb *noProbeBinaryError
	switch {
	case errors.As(perr, &nb):
		r.Fix = aptInstall + " busybox-static"
	case strings.Contains(perr.Error(), "rlimit"):
		r.Fix = "set podman's default_ulimits (see podman-ulimits)"
	case strings.Contains(perr.Error(), "hybrid mode"):
		r.Fix = "make podman use runc (see podman-runtime)"
	case errors.Is(perr, errNotInstalled):
		r.Fix = aptInstall + " podman"
	}
	return r
}

func repairEngine(ctx context.Context, d *Doctor) error {
	var nb *noProbeBinaryError
	if err := d.probe(ctx, EnginePodman); errors.As(err, &nb) {
		return d.aptInstall(ctx, "busybox-static")
	}
	return errors.New("no automatic repair: see the message")
}

func checkDocker(ctx context.Context, d *Doctor) Result {
	if _, err := d.Host.LookPath("docker"); err != nil {
		return Result{Status: StatusOK, Message: "docker is not installed (not needed)"}
	}
	if _, err := d.Host.Run(ctx, "docker", "info", "--format", "{{.ServerVersion}}"); err != nil {
		return Result{Status: StatusOK, Message: "docker's daemon is not running (not needed)"}
	}
	err := d.probe(ctx, EngineDocker)
	if err == nil {
		return Result{Status: StatusOK, Message: "docker runs privileged containers"}
	}
	msg := "docker cannot run privileged containers, so kind on Docker cannot work here"
	if strings.Contains(err.Error(), "unable to apply caps") {
		msg += " (the capability bounding set lacks capabilities Docker's --privileged asks for)"
	}
	return Result{Status: StatusWarn, Message: msg + ": " + err.Error(), Fix: "use podman (--provider podman)"}
}

func checkDisk(ctx context.Context, d *Doctor) Result {
	dir := storageDir(ctx, d)
	free, err := d.Host.FreeBytes(dir)
	if err != nil {
		return Result{Status: StatusWarn, Message: err.Error()}
	}
	gib := float64(free) / (1 << 30)
	if free < MinFreeBytes {
		return Result{Status: StatusWarn,
			Message: fmt.Sprintf("%.1f GiB free for %s, less than %d GiB: node images and nodes may fill it", gib, dir, MinFreeBytes>>30),
			Fix:     "free space on the file system holding " + dir}
	}
	return Result{Status: StatusOK, Message: fmt.Sprintf("%.1f GiB free for %s", gib, dir)}
}

// storageDir is where the node images and nodes will live: podman's
// configured graph root (storage.conf, CONTAINERS_STORAGE_CONF) when podman
// answers and StorageDir was left at its default, else StorageDir.
func storageDir(ctx context.Context, d *Doctor) string {
	if d.StorageDir != DefaultStorageDir {
		return d.StorageDir
	}
	if _, err := d.Host.LookPath(EnginePodman); err != nil {
		return d.StorageDir
	}
	out, err := d.Host.Run(ctx, EnginePodman, "info", "--format", "{{.Store.GraphRoot}}")
	if root := strings.TrimSpace(out); err == nil && strings.HasPrefix(root, "/") {
		return root
	}
	return d.StorageDir
}

func checkCgroup(_ context.Context, d *Doctor) Result {
	if CgroupV2(d.Host) {
		return Result{Status: StatusOK, Message: "cgroup v2"}
	}
	return Result{Status: StatusOK, Message: "cgroup v1: kubelet 1.35+ refuses it unless failCgroupV1 is false, which rehearse sets on every node"}
}

func checkIPVS(_ context.Context, d *Doctor) Result {
	if KernelHasIPVS(d.Host) {
		return Result{Status: StatusOK, Message: "IP_VS present: kube-proxy modes iptables, nftables and ipvs"}
	}
	return Result{Status: StatusWarn,
		Message: "the kernel has no IP_VS: kube-proxy mode ipvs is unavailable (iptables and nftables work)",
		Fix:     "use --kube-proxy-mode iptables or nftables"}
}

func checkNodeImage(ctx context.Context, d *Doctor, kubernetes string) Result {
	fix := fmt.Sprintf("build it: rehearse images build --kubernetes %s", kubernetes)
	engine := EnginePodman
	if d.probe(ctx, EnginePodman) != nil && d.probe(ctx, EngineDocker) == nil {
		engine = EngineDocker
	}
	images, err := FindNodeImages(ctx, d.Host, engine, kubernetes)
	if err != nil {
		return Result{Status: StatusFail, Message: fmt.Sprintf("cannot list the node images for Kubernetes %s: %v", kubernetes, err), Fix: fix}
	}
	if len(images) == 0 {
		return Result{Status: StatusFail,
			Message: fmt.Sprintf("no node image for Kubernetes %s in %s (label %s=%s)", kubernetes, engine, ImageLabel, kubernetes),
			Fix:     fix}
	}
	return Result{Status: StatusOK, Message: fmt.Sprintf("node image for %s: %s", kubernetes, strings.Join(images, ", "))}
}

// CgroupV2 says the host has the unified cgroup hierarchy.
func CgroupV2(h Host) bool {
	_, err := h.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// KernelHasIPVS says the kernel has IP_VS (built in or loaded).
func KernelHasIPVS(h Host) bool {
	for _, p := range []string{"/proc/net/ip_vs", "/sys/module/ip_vs"} {
		if _, err := h.Stat(p); err == nil {
			return true
		}
	}
	return false
}
