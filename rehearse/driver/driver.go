// Package driver turns "upgrade this cluster to vY" into steps and runs them
// while the load keeps running, recording every step on the run's timeline.
//
// A Driver has two methods: Plan returns the steps as a tree, each group
// serial or parallel; Upgrade executes a plan, updating each step's status
// and emitting timeline events (start, end, node, outcome). Optional
// abilities are separate interfaces found by type assertion (Rollbacker).
// Drivers are registered by name in a plain map (see New and Names).
package driver

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

// Env is the cluster a driver works on.
type Env struct {
	// Client reaches the cluster's API.
	Client kubernetes.Interface
	// ClusterName is the kind cluster's name, when the cluster is one.
	ClusterName string
	// Kubeconfig is the path of the cluster's kubeconfig.
	Kubeconfig string
	// Engine is the container engine binary running a kind cluster's
	// nodes (podman or docker); empty means podman.
	Engine string
	// Log receives the output of commands the driver runs.
	Log io.Writer
	// Shape, when there is no Client yet, describes the cluster to be, so
	// that a plan can be shown before anything runs.
	Shape *Shape
	// Fleet makes and removes clusters (blue-green); nil when the
	// rehearsal cannot make clusters.
	Fleet Fleet
	// Traffic is the live load's entry points (blue-green switches them).
	Traffic Traffic
}

// Shape is a cluster's nodes and version, known before it exists.
type Shape struct {
	ControlPlanes []string
	Workers       []string
	Version       string
}

// KindShape is the shape of a kind cluster: kind names its nodes
// NAME-control-plane, NAME-control-plane2, ..., NAME-worker, NAME-worker2, ...
func KindShape(name, version string, controlPlanes, workers int) *Shape {
	s := &Shape{Version: version}
	suffix := func(i int) string {
		if i == 0 {
			return ""
		}
		return fmt.Sprint(i + 1)
	}
	for i := range controlPlanes {
		s.ControlPlanes = append(s.ControlPlanes, name+"-control-plane"+suffix(i))
	}
	for i := range workers {
		s.Workers = append(s.Workers, name+"-worker"+suffix(i))
	}
	return s
}

// Driver upgrades a cluster.
type Driver interface {
	// Plan returns the steps that would upgrade the cluster to target,
	// without changing anything.
	Plan(ctx context.Context, env Env, target string) (*Plan, error)
	// Upgrade runs the plan, updating step statuses and emitting events.
	Upgrade(ctx context.Context, env Env, plan *Plan, emit timeline.Emitter) error
}

// Rollbacker is a driver that can also go back.
type Rollbacker interface {
	Rollback(ctx context.Context, env Env, emit timeline.Emitter) error
}

// Strategy says how a step's children run.
type Strategy string

const (
	Serial   Strategy = "serial"
	Parallel Strategy = "parallel"
)

// Status of a step.
type Status string

const (
	Pending Status = "pending"
	Running Status = "running"
	Done    Status = "done"
	Failed  Status = "failed"
	Skipped Status = "skipped"
)

// Step is one node of a plan tree: a group (with children and a strategy)
// or a leaf action.
type Step struct {
	Name     string    `json:"name"`
	Subject  string    `json:"subject,omitempty"`
	Strategy Strategy  `json:"strategy,omitempty"`
	Children []*Step   `json:"children,omitempty"`
	Status   Status    `json:"status"`
	Message  string    `json:"message,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Ended    time.Time `json:"ended,omitzero"`
	mu       sync.Mutex
}

// Plan is a driver's tree of steps.
type Plan struct {
	Driver string `json:"driver"`
	Target string `json:"target"`
	Root   *Step  `json:"root"`
}

// Group makes a group step.
func Group(name string, s Strategy, children ...*Step) *Step {
	return &Step{Name: name, Strategy: s, Children: children, Status: Pending}
}

// Action makes a leaf step.
func Action(name, subject string) *Step {
	return &Step{Name: name, Subject: subject, Status: Pending}
}

// Run marks the step running, emits its start, runs fn, then marks and
// emits its end with the outcome. The error of fn is returned as it is.
func (s *Step) Run(emit timeline.Emitter, source string, fn func() error) error {
	s.set(Running, "")
	s.mu.Lock()
	s.Started = time.Now()
	s.mu.Unlock()
	emit.Emit(timeline.Event{Time: s.Started, Source: source, Kind: "start", Subject: s.Subject, Message: s.Name})
	err := fn()
	s.mu.Lock()
	s.Ended = time.Now()
	s.mu.Unlock()
	ev := timeline.Event{Time: s.Ended, Source: source, Kind: "end", Subject: s.Subject, Message: s.Name}
	if err != nil {
		s.set(Failed, err.Error())
		ev.Outcome, ev.Message = "failed", s.Name+": "+err.Error()
	} else {
		s.set(Done, "")
		ev.Outcome = "ok"
	}
	emit.Emit(ev)
	return err
}

func (s *Step) set(st Status, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Status, s.Message = st, msg
}

// State returns the step's status and message. A group that never ran as
// a step of its own takes its status from its children: failed if one
// failed, running if one runs, done when all are done.
func (s *Step) State() (Status, string) {
	s.mu.Lock()
	st, msg, kids := s.Status, s.Message, s.Children
	s.mu.Unlock()
	if len(kids) == 0 || st != Pending {
		return st, msg
	}
	done := 0
	for _, c := range kids {
		switch cs, _ := c.State(); cs {
		case Failed:
			return Failed, ""
		case Running:
			st = Running
		case Done, Skipped:
			done++
		}
	}
	if done == len(kids) {
		return Done, ""
	}
	if done > 0 {
		return Running, ""
	}
	return st, ""
}

// Leaves returns the plan's leaf steps in order.
func (p *Plan) Leaves() []*Step {
	var out []*Step
	var walk func(*Step)
	walk = func(s *Step) {
		if len(s.Children) == 0 {
			out = append(out, s)
		}
		for _, c := range s.Children {
			walk(c)
		}
	}
	walk(p.Root)
	return out
}

// Render writes the plan as a tree with each step's status, like an
// operator's plan view.
func (p *Plan) Render(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s upgrade to %s\n", p.Driver, p.Target)
	var walk func(s *Step, prefix string, last bool, top bool)
	walk = func(s *Step, prefix string, last, top bool) {
		branch, next := "├─ ", "│  "
		if last {
			branch, next = "└─ ", "   "
		}
		if top {
			branch, next = "", ""
		}
		st, msg := s.State()
		line := fmt.Sprintf("%s%s%s %s", prefix, branch, mark(st), s.Name)
		if s.Subject != "" && !strings.Contains(s.Name, s.Subject) {
			line += " (" + s.Subject + ")"
		}
		if len(s.Children) > 0 {
			line += fmt.Sprintf("  [%s]", s.Strategy)
		}
		if msg != "" {
			line += ": " + msg
		}
		b.WriteString(line + "\n")
		for i, c := range s.Children {
			walk(c, prefix+next, i == len(s.Children)-1, false)
		}
	}
	walk(p.Root, "", true, true)
	_, err := io.WriteString(w, b.String())
	return err
}

func mark(s Status) string {
	switch s {
	case Running:
		return "[>]"
	case Done:
		return "[x]"
	case Failed:
		return "[!]"
	case Skipped:
		return "[-]"
	}
	return "[ ]"
}

// Factory makes a driver from its scenario settings.
type Factory func(settings any) (Driver, error)

// Registry maps driver names to factories.
type Registry map[string]Factory

// Names returns the registered names, sorted, for help and errors.
func (r Registry) Names() []string {
	out := make([]string, 0, len(r))
	for n := range r {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// New makes the named driver.
func (r Registry) New(name string, settings any) (Driver, error) {
	f, ok := r[name]
	if !ok {
		return nil, fmt.Errorf("unknown driver %q; known: %s", name, strings.Join(r.Names(), ", "))
	}
	return f(settings)
}
