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
