package driver

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

func ok(context.Context, Env) error { return nil }

func fail(msg string) Func {
	return func(context.Context, Env) error { return errors.New(msg) }
}

func TestExecuteSerialStopsAtFirstFailure(t *testing.T) {
	var ran []string
	note := func(name string) Func {
		return func(context.Context, Env) error { ran = append(ran, name); return nil }
	}
	p := &Plan{Driver: "test", Target: "v1.36.3", Root: Group("upgrade", Serial,
		Action("one", "n1", note("one")),
		Action("two", "n1", fail("drain blocked")),
		Action("three", "n1", note("three")),
		Group("later", Serial, Action("four", "n2", note("four"))),
	)}
	rec := timeline.NewRecorder(nil)
	err := p.Execute(context.Background(), Env{}, rec)
	require.Error(t, err)
	assert.Equal(t, "two (n1): drain blocked", err.Error(), "the error names the failed step and its subject once")
	assert.Equal(t, []string{"one"}, ran, "nothing after the failed step runs")

	leaves := p.Leaves()
	want := []Status{Done, Failed, Skipped, Skipped}
	for i, s := range leaves {
		st, _ := s.State()
		assert.Equal(t, want[i], st, s.Name)
	}
	var b bytes.Buffer
	require.NoError(t, p.Render(&b))
	assert.Regexp(t, regexp.MustCompile(`\[!\] two \(n1\)  [0-9.]+s: drain blocked`), b.String())
	assert.Contains(t, b.String(), "[-] three (n1): not run: two failed")

	var kinds []string
	for _, e := range rec.Events() {
		kinds = append(kinds, e.Kind+" "+e.Message+" "+e.Outcome)
	}
	assert.Equal(t, []string{
		"group-start upgrade ", "start one ", "end one ok", "start two ", "end two: drain blocked failed", "group-end upgrade: two (n1): drain blocked failed",
	}, kinds)
}

func TestExecuteParallelFinishesSiblings(t *testing.T) {
	var finished atomic.Int32
	slow := func(context.Context, Env) error {
		time.Sleep(50 * time.Millisecond)
		finished.Add(1)
		return nil
	}
	p := &Plan{Driver: "test", Root: Group("nodes", Parallel,
		Action("a", "n1", fail("kubelet did not start")),
		Action("b", "n2", slow),
		Action("c", "n3", fail("image missing")),
	)}
	err := p.Execute(context.Background(), Env{}, timeline.Discard)
	require.Error(t, err)
	assert.ErrorContains(t, err, "a (n1): kubelet did not start")
	assert.ErrorContains(t, err, "c (n3): image missing")
	assert.EqualValues(t, 1, finished.Load(), "the healthy sibling ran to its end")
	got := map[string]Status{}
	for _, s := range p.Leaves() {
		got[s.Name], _ = s.State()
	}
	assert.Equal(t, map[string]Status{"a": Failed, "b": Done, "c": Failed}, got)
	st, _ := p.Root.State()
	assert.Equal(t, Failed, st)
}

func TestExecuteParallelFailFastCancelsSiblings(t *testing.T) {
	waits := func(ctx context.Context, _ Env) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return nil
		}
	}
	g := Group("nodes", Parallel, Action("a", "n1", fail("boom")), Action("b", "n2", waits))
	g.FailFast = true
	start := time.Now()
	err := (&Plan{Root: g}).Execute(context.Background(), Env{}, timeline.Discard)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second, "the sibling was cancelled, not waited for")
	assert.ErrorIs(t, err, context.Canceled)
}

func TestExecuteFinallyRunsAfterFailureAndCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var finallyErr error
	var finallyCtxErr error
	p := &Plan{Root: Group("g", Serial, Action("stop", "", func(context.Context, Env) error { cancel(); return errors.New("interrupted") }), Action("never", "", ok)),
		Finally: func(ctx context.Context, _ Env, err error) error {
			finallyErr, finallyCtxErr = err, ctx.Err()
			return errors.New("cleanup failed")
		}}
	err := p.Execute(ctx, Env{}, nil)
	require.Error(t, err)
	assert.ErrorContains(t, finallyErr, "interrupted")
	assert.NoError(t, finallyCtxErr, "Finally has a context of its own")
	assert.ErrorContains(t, err, "cleanup failed", "the cleanup's error is joined, not dropped")
}

func TestExecuteRefusesAStepWithoutAction(t *testing.T) {
	p := &Plan{Root: Group("g", Serial, Action("printed only", "", nil))}
	err := p.Execute(context.Background(), Env{}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "printed only")
}

// stagedPlan is a plan whose first group runs before the load; it counts
// how often each action and Finally ran.
func stagedPlan(stage Func) (*Plan, map[string]int, *[]error) {
	runs := map[string]int{}
	var finals []error
	note := func(name string) Func {
		return func(context.Context, Env) error { runs[name]++; return nil }
	}
	prep := Group("prepare", Serial, Action("copy", "", stage), Action("load", "n1", note("load")))
	prep.BeforeLoad = true
	p := &Plan{Driver: "test", Target: "v1.36.3",
		Root: Group("upgrade", Serial, Action("fault before the upgrade", "n1", note("fault")), prep, Action("upgrade node", "n1", note("upgrade"))),
		Finally: func(_ context.Context, _ Env, err error) error {
			finals = append(finals, err)
			return nil
		}}
	return p, runs, &finals
}

func TestStageRunsOnlyTheStepsBeforeTheLoadAndExecuteTheRest(t *testing.T) {
	p, runs, finals := stagedPlan(ok)
	require.True(t, p.HasStage())
	rec := timeline.NewRecorder(nil)
	require.NoError(t, p.Stage(context.Background(), Env{}, rec))
	assert.Equal(t, map[string]int{"load": 1}, runs, "only the BeforeLoad group ran")
	assert.Empty(t, *finals, "Finally waits for the upgrade")
	var staged []string
	for _, e := range rec.Events() {
		staged = append(staged, e.Kind+" "+e.Message)
	}
	assert.Equal(t, []string{"group-start prepare", "start copy", "end copy", "start load", "end load", "group-end prepare"}, staged)

	require.NoError(t, p.Execute(context.Background(), Env{}, nil))
	assert.Equal(t, map[string]int{"load": 1, "fault": 1, "upgrade": 1}, runs, "a staged step is not run again")
	assert.Equal(t, []error{nil}, *finals)
	require.NoError(t, p.Release(context.Background(), Env{}))
	assert.Len(t, *finals, 1, "Finally runs once")

	var b bytes.Buffer
	require.NoError(t, p.Render(&b))
	assert.Contains(t, b.String(), "[x] prepare  [serial]  (before the load starts)")
	assert.Contains(t, b.String(), "[x] upgrade node (n1)")
}

func TestReleaseCleansAStagedPlanThatNeverRan(t *testing.T) {
	p, _, finals := stagedPlan(ok)
	require.NoError(t, p.Release(context.Background(), Env{}))
	assert.Empty(t, *finals, "nothing was staged, nothing to release")
	require.NoError(t, p.Stage(context.Background(), Env{}, nil))
	require.NoError(t, p.Release(context.Background(), Env{}))
	require.Len(t, *finals, 1)
	assert.ErrorContains(t, (*finals)[0], "the upgrade did not run", "Finally is told the upgrade did not end well, so it takes the staged files off the nodes")
}

func TestStageFailureRunsFinallyAndSkipsTheRest(t *testing.T) {
	p, runs, finals := stagedPlan(fail("no image"))
	err := p.Stage(context.Background(), Env{}, nil)
	require.Error(t, err)
	assert.Equal(t, "copy: no image", err.Error())
	assert.Empty(t, runs)
	require.Len(t, *finals, 1)
	assert.ErrorContains(t, (*finals)[0], "no image")
	require.NoError(t, p.Release(context.Background(), Env{}))
	assert.Len(t, *finals, 1, "Finally runs once")
}

func TestExecuteWithoutStageRunsEveryStepInOrder(t *testing.T) {
	p, runs, finals := stagedPlan(ok)
	rec := timeline.NewRecorder(nil)
	require.NoError(t, p.Execute(context.Background(), Env{}, rec))
	var order []string
	for _, e := range rec.Events() {
		if e.Kind == "start" {
			order = append(order, e.Message)
		}
	}
	assert.Equal(t, []string{"fault before the upgrade", "copy", "load", "upgrade node"}, order)
	assert.Equal(t, map[string]int{"load": 1, "fault": 1, "upgrade": 1}, runs)
	assert.Len(t, *finals, 1)
}
