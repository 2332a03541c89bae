// Package driver turns "upgrade this cluster to vY" into a plan and runs it
// while the load keeps running, recording every step on the run's timeline.
//
// A plan is the program: a tree of steps, each group serial or parallel,
// each action holding the function that performs it. A Driver only builds
// plans; Plan.Execute runs any of them, so what `rehearse plan` prints is
// what runs. Drivers are registered by name in a plain map (see Drivers).
package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/scenarios"
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
	// Emit records what steps see beyond their start and end (a blocked
	// drain, restarted static pods); Plan.Execute sets it.
	Emit timeline.Emitter
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
	// PoolOf names each worker's pool, when the cluster has pools.
	PoolOf map[string]string
}

// WithPools assigns the shape's workers to pools in order: the first pool
// takes the first workers, as kind names them.
func (s *Shape) WithPools(pools []PoolSize) *Shape {
	if len(pools) == 0 {
		return s
	}
	s.PoolOf = map[string]string{}
	i := 0
	for _, p := range pools {
		for range p.Workers {
			if i < len(s.Workers) {
				s.PoolOf[s.Workers[i]] = p.Name
				i++
			}
		}
	}
	return s
}

// PoolSize is a pool's name and worker count.
type PoolSize struct {
	Name    string
	Workers int
}

// KindShape is the shape of a kind cluster: kind names its nodes
// NAME-control-plane, NAME-control-plane2, ..., NAME-worker, NAME-worker2, ...
func KindShape(name, version string, controlPlanes, workers int) *Shape {
	s := &Shape{Version: version}
	cps, ws := scenarios.KindRoleNames(controlPlanes, workers)
	for _, r := range cps {
		s.ControlPlanes = append(s.ControlPlanes, name+"-"+r)
	}
	for _, r := range ws {
		s.Workers = append(s.Workers, name+"-"+r)
	}
	return s
}

// Driver upgrades a cluster. Its plan is the program: every step carries
// the action that performs it, and Plan.Execute runs the tree.
type Driver interface {
	// Plan returns the steps that would upgrade the cluster to target,
	// without changing anything. It fails on a target the cluster cannot
	// be upgraded to.
	Plan(ctx context.Context, env Env, target string) (*Plan, error)
}

// Reverter is a driver that can bring the workers an upgrade changed back
// to the cluster's original version, under load, after the upgrade ended or
// was aborted (upgrade.revert).
type Reverter interface {
	// RevertPlan returns the steps that bring every worker not at from
	// back to from. Its root's name says what it cannot revert.
	RevertPlan(ctx context.Context, env Env, from string) (*Plan, error)
}

// ErrAborted is the error of a plan stopped on purpose by its abort step
// (upgrade.abortAfter): the steps after it are skipped, not failed.
var ErrAborted = errors.New("aborted as the scenario asked (upgrade.abortAfter)")

// abortAt puts the abort step into a plan once its first n workers are
// planned (n <= 0: never).
type abortAt struct {
	n, planned int
	done       bool
}

// after counts a batch of workers just added to the serial group g, and
// adds the abort step after it when the count reaches n.
func (a *abortAt) after(g *Step, workers int) {
	if a == nil || a.n <= 0 || a.done {
		return
	}
	a.planned += workers
	if a.planned >= a.n {
		a.done = true
		g.Children = append(g.Children, Action(fmt.Sprintf("abort after %d workers", a.planned), "", func(context.Context, Env) error {
			return ErrAborted
		}))
	}
}

// Strategy says how a group's children run.
type Strategy string

const (
	// Serial runs the children in order and stops at the first failure:
	// the steps after it are skipped.
	Serial Strategy = "serial"
	// Parallel runs the children at once and waits for all of them; with
	// FailFast the first failure cancels the siblings still running.
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

// Func performs one step on the cluster env describes. env is the one the
// plan is executed with: fields set after planning (the live traffic, the
// driver log) are there.
type Func func(ctx context.Context, env Env) error

// Step is one node of a plan tree: a group (children and a strategy) or an
// action (Do). An action's children, if any, are sub-steps it reported
// while it ran (an exec driver's step markers), not steps of their own.
type Step struct {
	Name     string    `json:"name"`
	Subject  string    `json:"subject,omitempty"`
	Strategy Strategy  `json:"strategy,omitempty"`
	FailFast bool      `json:"failFast,omitempty"`
	Children []*Step   `json:"children,omitempty"`
	Status   Status    `json:"status"`
	Message  string    `json:"message,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Ended    time.Time `json:"ended,omitzero"`
	// BeforeLoad marks a step of the plan's top level that runs before the
	// load starts (Plan.Stage): copying onto the nodes what the upgrade
	// needs, which a production node pulls from its registry on its own
	// cores, but which on a rehearsal machine would take the cores the load
	// and the cluster share.
	BeforeLoad bool `json:"beforeLoad,omitempty"`
	// Do performs an action step; nil on a group.
	Do Func `json:"-"`
	mu sync.Mutex
}

// Plan is a driver's tree of steps.
type Plan struct {
	Driver string `json:"driver"`
	Target string `json:"target"`
	Root   *Step  `json:"root"`
	// Finally runs once after the steps, whatever their outcome, with a
	// context of its own (taking staged files off the nodes); err is the
	// steps' error. Its own error is joined to it.
	Finally func(ctx context.Context, env Env, err error) error `json:"-"`

	mu       sync.Mutex
	staged   bool // Stage ran
	finished bool // Finally ran
}

// FinallyTimeout bounds a plan's Finally.
const FinallyTimeout = time.Minute

// Group makes a group step.
func Group(name string, s Strategy, children ...*Step) *Step {
	return &Step{Name: name, Strategy: s, Children: children, Status: Pending}
}

// Action makes an action step performed by do.
func Action(name, subject string, do Func) *Step {
	return &Step{Name: name, Subject: subject, Status: Pending, Do: do}
}

// Execute runs the plan's steps: serial groups in order up to their first
// failure, parallel groups all at once. Every step's start, end, outcome and
// error go on the timeline through emit (actions as start/end, groups as
// group-start/group-end) and stay on the step for Render. The error names
// the failed step and its subject.
//
// Steps Stage ran already are not run again.
func (p *Plan) Execute(ctx context.Context, env Env, emit timeline.Emitter) error {
	if emit == nil {
		emit = timeline.Discard
	}
	env.Emit = emit
	err := p.Root.execute(ctx, env, emit)
	return errors.Join(err, p.finally(ctx, env, err))
}

// HasStage tells whether the plan has steps to run before the load.
func (p *Plan) HasStage() bool {
	for _, c := range p.Root.Children {
		if c.BeforeLoad {
			return true
		}
	}
	return false
}

// Stage runs the plan's BeforeLoad steps, in order, up to the first
// failure; Execute then runs the others. A failure here is the plan's:
// Finally runs at once with it, and the plan is not to be executed.
func (p *Plan) Stage(ctx context.Context, env Env, emit timeline.Emitter) error {
	if emit == nil {
		emit = timeline.Discard
	}
	env.Emit = emit
	p.mu.Lock()
	p.staged = true
	p.mu.Unlock()
	for _, c := range p.Root.Children {
		if !c.BeforeLoad {
			continue
		}
		if err := c.execute(ctx, env, emit); err != nil {
			return errors.Join(err, p.finally(ctx, env, err))
		}
	}
	return nil
}

// Release runs Finally for a plan that was staged and never executed (the
// rehearsal stopped in between), so that nothing staged stays behind.
func (p *Plan) Release(ctx context.Context, env Env) error {
	p.mu.Lock()
	staged := p.staged
	p.mu.Unlock()
	if !staged {
		return nil
	}
	return p.finally(ctx, env, errors.New("the upgrade did not run"))
}

// finally runs the plan's Finally once, whatever calls it first.
func (p *Plan) finally(ctx context.Context, env Env, err error) error {
	p.mu.Lock()
	done := p.finished
	p.finished = true
	p.mu.Unlock()
	if p.Finally == nil || done {
		return nil
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), FinallyTimeout)
	defer cancel()
	return p.Finally(fctx, env, err)
}

func (s *Step) execute(ctx context.Context, env Env, emit timeline.Emitter) error {
	s.mu.Lock()
	ran := s.Status == Done
	s.mu.Unlock()
	if ran {
		return nil
	}
	if s.Do != nil {
		err := s.run(emit, "start", "end", true, func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return s.Do(ctx, env)
		})
		if err != nil {
			return stepError(s, err)
		}
		return nil
	}
	if len(s.Children) == 0 {
		return fmt.Errorf("step %q has no action and no steps", s.Name)
	}
	return s.run(emit, "group-start", "group-end", false, func() error {
		if s.Strategy == Parallel {
			return s.parallel(ctx, env, emit)
		}
		for i, c := range s.Children {
			if err := c.execute(ctx, env, emit); err != nil {
				why := "not run: " + c.Name + " failed"
				if errors.Is(err, ErrAborted) {
					why = "not run: the upgrade was aborted"
				}
				for _, rest := range s.Children[i+1:] {
					rest.skip(why)
				}
				return err
			}
		}
		return nil
	})
}

func (s *Step) parallel(ctx context.Context, env Env, emit timeline.Emitter) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(s.Children))
	var wg sync.WaitGroup
	for i, c := range s.Children {
		wg.Go(func() {
			errs[i] = c.execute(cctx, env, emit)
			if errs[i] != nil && s.FailFast {
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// stepError wraps an action's error with the step's name and subject, once.
func stepError(s *Step, err error) error {
	if s.Subject != "" && !strings.Contains(s.Name, s.Subject) {
		return fmt.Errorf("%s (%s): %w", s.Name, s.Subject, err)
	}
	return fmt.Errorf("%s: %w", s.Name, err)
}

// skip marks a step and everything under it not run.
func (s *Step) skip(why string) {
	s.set(Skipped, why)
	for _, c := range s.Children {
		c.skip("")
	}
}

// run marks the step running, emits its start, runs fn, then marks and
// emits its end with the outcome. The error of fn is returned as it is; an
// action keeps its first line as the step's message (a group's failure is
// its child's, shown there).
func (s *Step) run(emit timeline.Emitter, startKind, endKind string, action bool, fn func() error) error {
	s.mu.Lock()
	s.Status, s.Message, s.Started = Running, "", time.Now()
	started := s.Started
	s.mu.Unlock()
	emit.Emit(timeline.Event{Time: started, Source: timeline.SourceDriver, Kind: startKind, Subject: s.Subject, Message: s.Name})
	err := fn()
	s.mu.Lock()
	s.Ended = time.Now()
	ended := s.Ended
	s.mu.Unlock()
	ev := timeline.Event{Time: ended, Source: timeline.SourceDriver, Kind: endKind, Subject: s.Subject, Message: s.Name}
	if err != nil {
		msg := ""
		if action {
			msg = firstLineOf(err.Error())
		}
		s.set(Failed, msg)
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

// Observe records a sub-step an action reports while it runs (an exec
// driver's step marker) under parent, started now.
func (s *Step) observe(name string) *Step {
	c := &Step{Name: name, Subject: name, Status: Running, Started: time.Now()}
	s.mu.Lock()
	s.Children = append(s.Children, c)
	s.mu.Unlock()
	return c
}

// finish ends an observed sub-step.
func (s *Step) finish(st Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Status, s.Ended = st, time.Now()
}

// State returns the step's status and message. A group that never ran
// takes its status from its children: failed if one failed, running if one
// runs, done when all are done.
func (s *Step) State() (Status, string) {
	s.mu.Lock()
	st, msg, kids := s.Status, s.Message, s.Children
	s.mu.Unlock()
	if len(kids) == 0 || st != Pending || s.Do != nil {
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

// Duration is how long the step ran; 0 when it has not ended.
func (s *Step) Duration() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Started.IsZero() || s.Ended.IsZero() {
		return 0
	}
	return s.Ended.Sub(s.Started)
}

// Leaves returns the plan's action steps (and the sub-steps they reported)
// in order.
func (p *Plan) Leaves() []*Step {
	var out []*Step
	var walk func(*Step)
	walk = func(s *Step) {
		s.mu.Lock()
		kids := append([]*Step(nil), s.Children...)
		s.mu.Unlock()
		if len(kids) == 0 {
			out = append(out, s)
		}
		for _, c := range kids {
			walk(c)
		}
	}
	walk(p.Root)
	return out
}

// Render writes the plan as a tree with each step's status, and the
// duration of each step that ran, like an operator's plan view.
func (p *Plan) Render(w io.Writer) error {
	var b strings.Builder
	if p.Driver == scenarios.DriverNone {
		fmt.Fprintf(&b, "fault drills at %s, no upgrade\n", p.Target)
	} else {
		fmt.Fprintf(&b, "%s upgrade to %s\n", p.Driver, p.Target)
	}
	var walk func(s *Step, parent, prefix string, last bool, top bool)
	walk = func(s *Step, parent, prefix string, last, top bool) {
		branch, next := "├─ ", "│  "
		if last {
			branch, next = "└─ ", "   "
		}
		if top {
			branch, next = "", ""
		}
		st, msg := s.State()
		line := fmt.Sprintf("%s%s%s %s", prefix, branch, mark(st), s.Name)
		// The node is named once: by its group, else beside the step.
		if s.Subject != "" && s.Subject != parent && !strings.Contains(s.Name, s.Subject) {
			line += " (" + s.Subject + ")"
		}
		s.mu.Lock()
		kids := append([]*Step(nil), s.Children...)
		s.mu.Unlock()
		if len(kids) > 0 && s.Do == nil {
			line += fmt.Sprintf("  [%s]", s.Strategy)
		}
		if s.BeforeLoad {
			line += "  (before the load starts)"
		}
		if d := s.Duration(); d > 0 {
			line += "  " + roundDuration(d).String()
		}
		if msg != "" {
			line += ": " + msg
		}
		b.WriteString(line + "\n")
		for i, c := range kids {
			walk(c, s.Name, prefix+next, i == len(kids)-1, false)
		}
	}
	walk(p.Root, "", "", true, true)
	_, err := io.WriteString(w, b.String())
	return err
}

// roundDuration keeps a duration readable: tenths of a second under a
// minute, whole seconds above.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
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

// Factory makes a driver from the scenario's upgrade block: each driver
// reads its own settings there.
type Factory func(u scenarios.Upgrade) (Driver, error)

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

// New makes the driver the upgrade block names.
func (r Registry) New(u scenarios.Upgrade) (Driver, error) {
	f, ok := r[u.Driver]
	if !ok {
		return nil, fmt.Errorf("unknown driver %q; known: %s", u.Driver, strings.Join(r.Names(), ", "))
	}
	d, err := f(u)
	if err != nil {
		return nil, err
	}
	return WithFaults(d, u.Faults), nil
}

// None upgrades nothing: its plan holds only the scenario's fault drills
// (Faults adds them), for a drill under load with no upgrade.
type None struct{}

// Plan is an empty serial group the faults are put into.
func (None) Plan(ctx context.Context, env Env, target string) (*Plan, error) {
	return &Plan{Driver: scenarios.DriverNone, Target: target, Root: Group("fault drills at "+target+", no upgrade", Serial)}, nil
}

// Drivers are the built-in drivers.
func Drivers() Registry {
	return Registry{
		scenarios.DriverKubeadm:   kubeadmFromScenario,
		scenarios.DriverReplace:   replaceFromScenario,
		scenarios.DriverBlueGreen: blueGreenFromScenario,
		scenarios.DriverExec:      execFromScenario,
		scenarios.DriverNone:      func(scenarios.Upgrade) (Driver, error) { return None{}, nil },
	}
}
