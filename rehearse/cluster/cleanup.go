package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// kind's podman provider makes each node's /var volume with `podman volume
// create --label NODE=true` before `podman run`, and its delete finds the
// volumes through the node containers it lists. A create interrupted
// between the two leaves a volume no container names; a volume removed
// while kind's `podman run` was still coming is made again by podman,
// unlabelled, under the same name. The functions below find both.

// nodeNameRE matches the names kind gives a cluster's node containers:
// NAME-control-plane, NAME-worker3, NAME-external-load-balancer. Another
// cluster's names cannot match: kind appends the role to the cluster's name,
// so a cluster named "a-worker" has nodes "a-worker-control-plane", ...
func nodeNameRE(cluster string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(cluster) + `-(control-plane|worker|external-load-balancer)([2-9]|[1-9][0-9]+)?$`)
}

// volumeRow is one volume as the engine reports it.
type volumeRow struct {
	Name   string
	Labels map[string]string
}

// volumeListFormat prints one volume a line: its name, a tab, its labels as
// JSON.
const volumeListFormat = "{{.Name}}\t{{json .Labels}}"

func parseVolumeRows(out string) []volumeRow {
	var rows []volumeRow
	for _, l := range strings.Split(out, "\n") {
		name, labels, ok := strings.Cut(strings.TrimSpace(l), "\t")
		if !ok || name == "" {
			continue
		}
		r := volumeRow{Name: name}
		if err := json.Unmarshal([]byte(labels), &r.Labels); err != nil {
			r.Labels = nil
		}
		rows = append(rows, r)
	}
	return rows
}

// kindNodeVolumes picks the volumes kind's podman provider made for the
// cluster's nodes: one label, a node name of the cluster, set to "true".
func kindNodeVolumes(rows []volumeRow, cluster string) []string {
	re := nodeNameRE(cluster)
	var names []string
	for _, r := range rows {
		if len(r.Labels) != 1 {
			continue
		}
		for k, v := range r.Labels {
			if v == "true" && re.MatchString(k) {
				names = append(names, r.Name)
			}
		}
	}
	sort.Strings(names)
	return names
}

// volumeRows lists the engine's volumes.
func (p *Provider) volumeRows(ctx context.Context) ([]volumeRow, error) {
	out, err := p.host.Run(ctx, p.engine, "volume", "ls", "--format", volumeListFormat)
	if err != nil {
		return nil, err
	}
	return parseVolumeRows(out), nil
}

// clusterContainers names the containers that carry kind's cluster label
// with this cluster's name (in any state).
func (p *Provider) clusterContainers(ctx context.Context, name string) ([]string, error) {
	out, err := p.host.Run(ctx, p.engine, "ps", "-a", "--filter", "label="+KindClusterLabel+"="+name, "--format", "{{.Names}}")
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// nodeVarVolumes names the volumes mounted on /var of the cluster's node
// containers, labelled or not.
func (p *Provider) nodeVarVolumes(ctx context.Context, name string) []string {
	cs, err := p.clusterContainers(ctx, name)
	if err != nil || len(cs) == 0 {
		return nil
	}
	format := `{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}}	{{.Destination}}{{"\n"}}{{end}}{{end}}`
	out, err := p.host.Run(ctx, p.engine, append([]string{"inspect", "--format", format}, cs...)...)
	if err != nil {
		return nil // a container went away meanwhile: kind's delete and the labels still find the rest
	}
	var names []string
	for _, l := range strings.Split(out, "\n") {
		if vol, dest, ok := strings.Cut(strings.TrimSpace(l), "\t"); ok && dest == "/var" && vol != "" {
			names = append(names, vol)
		}
	}
	return names
}

// removeNodeVolumes removes the volumes of the cluster's nodes that are
// left: kind's labelled ones and those named in mounted (found on the node
// containers before they were deleted). A volume still in use is not
// forced out: its removal fails and says so.
func (p *Provider) removeNodeVolumes(ctx context.Context, name string, mounted []string) error {
	rows, err := p.volumeRows(ctx)
	if err != nil {
		return fmt.Errorf("list volumes: %w", err)
	}
	exists := map[string]bool{}
	for _, r := range rows {
		exists[r.Name] = true
	}
	set := map[string]bool{}
	for _, v := range kindNodeVolumes(rows, name) {
		set[v] = true
	}
	for _, v := range mounted {
		if exists[v] {
			set[v] = true
		}
	}
	if len(set) == 0 {
		return nil
	}
	var vols []string
	for v := range set {
		vols = append(vols, v)
	}
	sort.Strings(vols)
	if _, err := p.host.Run(ctx, p.engine, append([]string{"volume", "rm"}, vols...)...); err != nil {
		return fmt.Errorf("remove the volumes of %s's nodes: %w", name, err)
	}
	return nil
}

// Leftovers lists what is left of a cluster on the engine: node containers
// with its name and, on podman, volumes kind made for its nodes.
func (p *Provider) Leftovers(ctx context.Context, name string) ([]string, error) {
	var left []string
	cs, err := p.clusterContainers(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		left = append(left, "container "+c)
	}
	if p.engine == EnginePodman {
		rows, err := p.volumeRows(ctx)
		if err != nil {
			return nil, err
		}
		for _, v := range kindNodeVolumes(rows, name) {
			left = append(left, "volume "+v)
		}
	}
	return left, nil
}

// deleteSettled deletes the cluster once kind's create has returned. kind
// returns at its first error while its other node creations go on (each a
// volume, then a container): wait for this process's engine commands to
// end, delete, and check again, a few times.
func (p *Provider) deleteSettled(ctx context.Context, name string) error {
	var err error
	for round := 0; round < 3; round++ {
		p.waitEngineCommands(ctx, 30*time.Second)
		err = p.deleteCluster(ctx, name)
		left, lerr := p.Leftovers(ctx, name)
		if lerr == nil && len(left) == 0 && !p.engineCommandsRunning() {
			return err
		}
		if ctx.Err() != nil {
			break
		}
		if lerr == nil && len(left) > 0 {
			p.say("  still there after deleting: %s; deleting again", strings.Join(left, ", "))
		}
	}
	if left, lerr := p.Leftovers(ctx, name); lerr == nil && len(left) > 0 {
		err = errors.Join(err, fmt.Errorf("left behind: %s", strings.Join(left, ", ")))
	}
	return err
}

// waitEngineCommands waits, up to limit, until no command of the engine
// that this process started runs.
func (p *Provider) waitEngineCommands(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for p.engineCommandsRunning() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
	}
}

// engineCommandsRunning says a child process of this one runs the engine's
// binary (kind runs podman or docker as children). Only for the local host
// on Linux; elsewhere it says no.
func (p *Provider) engineCommandsRunning() bool {
	if _, ok := p.host.(LocalHost); !ok {
		return false
	}
	return len(childrenNamed(p.engine)) > 0
}

// childrenNamed lists the pids of this process's children whose command
// name (/proc/PID/stat's comm) is name.
func childrenNamed(name string) []int {
	self := os.Getpid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		comm, ppid, ok := parseStat(string(b))
		if ok && ppid == self && comm == name {
			pids = append(pids, pid)
		}
	}
	return pids
}

// parseStat reads the command name and parent pid from /proc/PID/stat:
// "pid (comm) state ppid ...", where comm may hold spaces and parentheses.
func parseStat(s string) (comm string, ppid int, ok bool) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 2 {
		return "", 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return "", 0, false
	}
	return s[open+1 : end], ppid, true
}
