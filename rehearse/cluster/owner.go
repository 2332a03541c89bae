package cluster

import (
	"context"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// OwnerMarkDir holds a throwaway cluster's owner mark: each node container
// mounts /dev/null at OwnerMarkDir/MARK, where MARK names the process that
// made the cluster and will delete it (see Owner). A cluster whose owner is
// gone (killed outright, so it could not delete the cluster) is an orphan,
// and Prune deletes it. Clusters made to be kept (`rehearse cluster
// create`, `rehearse run --keep`) carry no mark and are never pruned.
const OwnerMarkDir = "/etc/rehearse-owner"

// Owner names one process on one boot of one machine: its pid namespace,
// pid, start time (in clock ticks since boot, /proc/PID/stat's 22nd field,
// so a reused pid is told apart) and the kernel's boot id.
type Owner struct {
	PIDNamespace string
	PID          int
	Start        uint64
	Boot         string
}

// mark is the owner as one path element: pidns.PID.START.BOOT.
func (o Owner) mark() string {
	return fmt.Sprintf("%s.%d.%d.%s", o.PIDNamespace, o.PID, o.Start, o.Boot)
}

func (o Owner) String() string { return fmt.Sprintf("pid %d", o.PID) }

// parseOwnerMark reads a mark made by Owner.mark.
func parseOwnerMark(s string) (Owner, bool) {
	f := strings.Split(s, ".")
	if len(f) != 4 || f[0] == "" || f[3] == "" {
		return Owner{}, false
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil || pid <= 0 {
		return Owner{}, false
	}
	start, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return Owner{}, false
	}
	return Owner{PIDNamespace: f[0], PID: pid, Start: start, Boot: f[3]}, true
}

// ownerOfMounts finds the owner mark among a container's mount
// destinations.
func ownerOfMounts(dests []string) (Owner, bool) {
	for _, d := range dests {
		if rest, ok := strings.CutPrefix(d, OwnerMarkDir+"/"); ok {
			return parseOwnerMark(rest)
		}
	}
	return Owner{}, false
}

// procFS reads the facts Owner needs from a /proc; the zero value reads
// the machine's.
type procFS struct{ root string }

var localProc = procFS{root: "/proc"}

func (p procFS) path(elem ...string) string {
	root := p.root
	if root == "" {
		root = "/proc"
	}
	return path.Join(append([]string{root}, elem...)...)
}

// self is this process as an Owner.
func (p procFS) self() (Owner, error) {
	ns, err := os.Readlink(p.path("self", "ns", "pid"))
	if err != nil {
		return Owner{}, fmt.Errorf("owner mark: %w", err)
	}
	pid := os.Getpid()
	start, ok := p.start(pid)
	if !ok {
		return Owner{}, fmt.Errorf("owner mark: no start time for pid %d in %s", pid, p.path())
	}
	boot, err := p.boot()
	if err != nil {
		return Owner{}, err
	}
	return Owner{PIDNamespace: nsID(ns), PID: pid, Start: start, Boot: boot}, nil
}

// nsID keeps the inode number of a namespace link such as "pid:[4026531836]".
func nsID(link string) string {
	if i := strings.IndexByte(link, '['); i >= 0 {
		return strings.TrimSuffix(link[i+1:], "]")
	}
	return link
}

func (p procFS) boot() (string, error) {
	b, err := os.ReadFile(p.path("sys", "kernel", "random", "boot_id"))
	if err != nil {
		return "", fmt.Errorf("owner mark: %w", err)
	}
	return strings.ReplaceAll(strings.TrimSpace(string(b)), "-", ""), nil
}

// start is a process's start time in clock ticks since boot.
func (p procFS) start(pid int) (uint64, bool) {
	b, err := os.ReadFile(p.path(strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces and parentheses: count
	// fields from the last ')'. Field 3 (state) is the first after it, so
	// the start time, field 22, is the 20th.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	return v, err == nil
}

// OwnerState says whether a throwaway cluster's owner still runs.
type OwnerState int

const (
	// OwnerAlive: the process that made the cluster runs.
	OwnerAlive OwnerState = iota
	// OwnerGone: that process is gone (or the machine rebooted since):
	// the cluster is an orphan.
	OwnerGone
	// OwnerUnknown: the process lives in another pid namespace (another
	// container sharing the engine), which this process cannot see.
	OwnerUnknown
)

func (s OwnerState) String() string {
	switch s {
	case OwnerAlive:
		return "running"
	case OwnerGone:
		return "gone"
	default:
		return "unknown (another pid namespace)"
	}
}

// stateOf judges owner o as seen from self.
func (p procFS) stateOf(o, self Owner) OwnerState {
	if o.PIDNamespace != self.PIDNamespace {
		return OwnerUnknown
	}
	if o.Boot != self.Boot {
		return OwnerGone
	}
	start, ok := p.start(o.PID)
	if !ok || start != o.Start {
		return OwnerGone
	}
	return OwnerAlive
}

// markOwner adds owner o's mark to every node of the kind configuration.
func markOwner(cfg *v1alpha4.Cluster, o Owner) {
	for i := range cfg.Nodes {
		cfg.Nodes[i].ExtraMounts = append(cfg.Nodes[i].ExtraMounts, v1alpha4.Mount{
			HostPath: "/dev/null", ContainerPath: path.Join(OwnerMarkDir, o.mark()), Readonly: true,
		})
	}
}

// Orphan is a throwaway cluster whose owner is gone.
type Orphan struct {
	Info
	Owner Owner
}

// Orphans lists the throwaway clusters whose owner process is gone. A
// cluster without an owner mark, or whose owner runs in another pid
// namespace, is never one.
func (p *Provider) Orphans(ctx context.Context) ([]Orphan, error) {
	list, err := p.List(ctx)
	if err != nil {
		return nil, err
	}
	self, err := p.proc.self()
	if err != nil {
		return nil, err
	}
	var out []Orphan
	for _, in := range list {
		if in.Owner == nil || p.proc.stateOf(*in.Owner, self) != OwnerGone {
			continue
		}
		out = append(out, Orphan{Info: in, Owner: *in.Owner})
	}
	return out, nil
}

// OwnerState says whether the owner of a listed cluster runs; ok is false
// for a cluster without an owner mark (one made to be kept).
func (p *Provider) OwnerState(in Info) (state OwnerState, ok bool) {
	if in.Owner == nil {
		return 0, false
	}
	self, err := p.proc.self()
	if err != nil {
		return OwnerUnknown, true
	}
	return p.proc.stateOf(*in.Owner, self), true
}
