package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// kind's podman provider makes each node's /var volume with `podman volume
// create --label NODE=true` before `podman run`, and its delete finds the
// volumes through the node containers it lists. A create interrupted
// between the two leaves a volume no container names; a volume removed
// while kind's `podman run` was still coming is made again by podman,
// unlabelled, under the same name. The functions below find both.

// nodeNameRE matches the names kind gives a cluster's node containers:
// NAME-control-plane, NAME-worker3, NAME-external-load-balancer, and those
// of the nodes the replace driver makes in their place, with the target
// version appended (NAME-worker3-v1-36-3). Another cluster's names cannot
// match: kind appends the role to the cluster's name, so a cluster named
// "a-worker" has nodes "a-worker-control-plane", ...
func nodeNameRE(cluster string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(cluster) + `-(control-plane|worker|external-load-balancer)([2-9]|[1-9][0-9]+)?(-v[0-9]+-[0-9]+-[0-9]+)*$`)
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

// deleteSettled deletes the cluster, whoever made it, once kind's create
// has returned; see settle.
func (p *Provider) deleteSettled(ctx context.Context, name string) error {
	return p.settle(ctx,
		func(ctx context.Context) error { return p.deleteCluster(ctx, name) },
		func(ctx context.Context) ([]string, error) { return p.Leftovers(ctx, name) })
}

// settle removes, then lists what is left, a few times. kind returns at its
// first error while its other node creations go on (each a volume, then a
// container): wait for this process's engine commands to end, remove, and
// check again.
func (p *Provider) settle(ctx context.Context, remove func(context.Context) error, leftovers func(context.Context) ([]string, error)) error {
	var err error
	for round := 0; round < 3; round++ {
		p.waitEngineCommands(ctx, 30*time.Second)
		err = remove(ctx)
		left, lerr := leftovers(ctx)
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
	if left, lerr := leftovers(ctx); lerr == nil && len(left) > 0 {
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

// kind cannot put a label of ours on the containers it makes, so every node
// container a Create of this process makes carries a mark instead: a
// read-only bind of /dev/null at RunMarkDir/RUN, where RUN is the
// Provider's run id. `inspect` shows it among the container's mounts. A
// failed or interrupted create removes only the containers with its mark
// (and their volumes), never those of another run that picked the same
// cluster name, nor a cluster plain kind made.

// RunMarkDir is the folder, inside a node container, of the marks that tell
// which run of rehearse made the container.
const RunMarkDir = "/etc/rehearse-run"

// newRunID returns a random run id: 12 hex digits.
func newRunID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on Linux
	}
	return hex.EncodeToString(b)
}

// markNodes adds the run's mark to every node of the kind configuration.
// kind's external load balancer, made only for several control planes,
// takes no configuration: see ownContainers.
func markNodes(cfg *v1alpha4.Cluster, run string) {
	for i := range cfg.Nodes {
		cfg.Nodes[i].ExtraMounts = append(cfg.Nodes[i].ExtraMounts, v1alpha4.Mount{
			HostPath: "/dev/null", ContainerPath: path.Join(RunMarkDir, run), Readonly: true,
		})
	}
}

// containerRow is one container of a cluster, with its mounts.
type containerRow struct {
	ID, Name, Role string
	// Mounts maps each mount's destination to its volume's name (empty
	// for a bind).
	Mounts map[string]string
}

// containerInspectFormat prints a container a line: id, name, kind role,
// then its mounts as DESTINATION|VOLUME;... .
var containerInspectFormat = fmt.Sprintf("{{.Id}}\t{{.Name}}\t{{index .Config.Labels %q}}\t{{range .Mounts}}{{.Destination}}|{{.Name}};{{end}}", KindRoleLabel)

func parseContainerRows(out string) []containerRow {
	var rows []containerRow
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(l), "\t")
		if len(f) < 3 || f[0] == "" {
			continue
		}
		r := containerRow{ID: f[0], Name: strings.TrimPrefix(f[1], "/"), Role: f[2], Mounts: map[string]string{}}
		if len(f) > 3 {
			for _, m := range strings.Split(f[3], ";") {
				if dest, vol, ok := strings.Cut(m, "|"); ok && dest != "" {
					r.Mounts[dest] = vol
				}
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// ownContainers splits a cluster's containers into this run's (those with
// its mark) and the others. kind's load balancer cannot carry the mark: it
// is this run's when every other container of the cluster is.
func ownContainers(rows []containerRow, run string) (ours, others []containerRow) {
	mark := path.Join(RunMarkDir, run)
	var lbs []containerRow
	for _, r := range rows {
		_, marked := r.Mounts[mark]
		switch {
		case marked:
			ours = append(ours, r)
		case r.Role == "external-load-balancer":
			lbs = append(lbs, r)
		default:
			others = append(others, r)
		}
	}
	if len(others) == 0 {
		ours = append(ours, lbs...)
	} else {
		others = append(others, lbs...)
	}
	return ours, others
}

// clusterContainerRows inspects the containers that carry kind's cluster
// label with this cluster's name.
func (p *Provider) clusterContainerRows(ctx context.Context, name string) ([]containerRow, error) {
	out, err := p.host.Run(ctx, p.engine, "ps", "-a", "--filter", "label="+KindClusterLabel+"="+name, "--format", "{{.ID}}")
	if err != nil {
		return nil, err
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil, nil
	}
	out, err = p.host.Run(ctx, p.engine, append([]string{"inspect", "--format", containerInspectFormat}, ids...)...)
	if err != nil {
		return nil, err
	}
	return parseContainerRows(out), nil
}

// creation is what one Create found before it made anything, so that its
// teardown removes only what it made.
type creation struct {
	cluster string
	// volumesBefore are the engine's volumes before the create (podman).
	volumesBefore map[string]bool
	// networkBefore says kind's network existed before the create.
	networkBefore bool
	// dirMade says the create made the cluster's kubeconfig folder.
	dirMade bool
}

// beginCreation notes what exists before a create of cluster name.
func (p *Provider) beginCreation(ctx context.Context, name string) (*creation, error) {
	c := &creation{cluster: name, volumesBefore: map[string]bool{}}
	if p.engine == EnginePodman {
		rows, err := p.volumeRows(ctx)
		if err != nil {
			return nil, fmt.Errorf("list volumes: %w", err)
		}
		for _, r := range rows {
			c.volumesBefore[r.Name] = true
		}
	}
	_, err := p.host.Run(ctx, p.engine, "network", "inspect", kindNetwork)
	c.networkBefore = err == nil
	return c, nil
}

// madeVolumes names the volumes this creation made that are left: the /var
// volumes of its containers and, when no other run's container is in the
// cluster (whose volume could be one being made), the volumes kind labelled
// for the cluster's nodes that did not exist before the create.
func (p *Provider) madeVolumes(ctx context.Context, c *creation, ours, others []containerRow) ([]string, error) {
	if p.engine != EnginePodman {
		return nil, nil // Docker's node volumes are anonymous: rm -v removes them
	}
	rows, err := p.volumeRows(ctx)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	exists := map[string]bool{}
	for _, r := range rows {
		exists[r.Name] = true
	}
	set := map[string]bool{}
	for _, r := range ours {
		if v := r.Mounts["/var"]; v != "" && exists[v] && !c.volumesBefore[v] {
			set[v] = true
		}
	}
	if len(others) == 0 {
		for _, v := range kindNodeVolumes(rows, c.cluster) {
			if !c.volumesBefore[v] {
				set[v] = true
			}
		}
	}
	vols := make([]string, 0, len(set))
	for v := range set {
		vols = append(vols, v)
	}
	sort.Strings(vols)
	return vols, nil
}

// removeMadeContainers removes the cluster's containers that carry this
// run's mark (and the load balancer when it is this run's).
func (p *Provider) removeMadeContainers(ctx context.Context, name string) error {
	rows, err := p.clusterContainerRows(ctx, name)
	if err != nil {
		return fmt.Errorf("list the containers of %s: %w", name, err)
	}
	ours, _ := ownContainers(rows, p.run)
	return p.removeContainers(ctx, name, ours)
}

func (p *Provider) removeContainers(ctx context.Context, name string, rows []containerRow) error {
	if len(rows) == 0 {
		return nil
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	if _, err := p.host.Run(ctx, p.engine, append([]string{"rm", "-f", "-v"}, ids...)...); err != nil {
		return fmt.Errorf("remove the node containers of %s: %w", name, err)
	}
	return nil
}

// removeMade removes what the creation made: its node containers, their
// volumes, the kubeconfig folder when it made it, and kind's network when
// it made it and no kind node is left on it. Containers and volumes of
// another run, or of plain kind, with the same cluster name are kept, and
// said so.
func (p *Provider) removeMade(ctx context.Context, c *creation) error {
	rows, err := p.clusterContainerRows(ctx, c.cluster)
	if err != nil {
		return fmt.Errorf("list the containers of %s: %w", c.cluster, err)
	}
	ours, others := ownContainers(rows, p.run)
	vols, err := p.madeVolumes(ctx, c, ours, others)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if len(others) > 0 {
		names := make([]string, len(others))
		for i, r := range others {
			names[i] = r.Name
		}
		p.say("  keeping %s: made by another run of rehearse or by kind, not by this one", strings.Join(names, ", "))
	}
	if err := p.removeContainers(ctx, c.cluster, ours); err != nil {
		errs = append(errs, err)
	}
	if len(vols) > 0 {
		if _, err := p.host.Run(ctx, p.engine, append([]string{"volume", "rm"}, vols...)...); err != nil {
			errs = append(errs, fmt.Errorf("remove the volumes of %s's nodes: %w", c.cluster, err))
		}
	}
	if c.dirMade {
		if err := os.RemoveAll(filepath.Dir(p.KubeconfigPath(c.cluster))); err != nil {
			errs = append(errs, err)
		}
	}
	if !c.networkBefore {
		if rows, err := p.nodeRows(ctx); err == nil && len(rows) == 0 {
			if _, err := p.host.Run(ctx, p.engine, "network", "inspect", kindNetwork); err == nil {
				if _, err := p.host.Run(ctx, p.engine, "network", "rm", kindNetwork); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// madeLeftovers lists what is left of what the creation made.
func (p *Provider) madeLeftovers(ctx context.Context, c *creation) ([]string, error) {
	rows, err := p.clusterContainerRows(ctx, c.cluster)
	if err != nil {
		return nil, err
	}
	ours, others := ownContainers(rows, p.run)
	var left []string
	for _, r := range ours {
		left = append(left, "container "+r.Name)
	}
	vols, err := p.madeVolumes(ctx, c, ours, others)
	if err != nil {
		return nil, err
	}
	for _, v := range vols {
		left = append(left, "volume "+v)
	}
	return left, nil
}
