package nodeimage

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// A command of a build that runs longer than the heartbeat says so on the
// progress stream, with its last line of output; a quick one says nothing,
// and a negative heartbeat turns it off.
func TestHeartbeatDuringALongCommand(t *testing.T) {
	v, err := ParseVersion("v1.35.4")
	if err != nil {
		t.Fatal(err)
	}
	run := func(heartbeat time.Duration, script string) string {
		var progress bytes.Buffer
		b, err := newBuild(Options{CacheDir: t.TempDir(), Progress: &progress, Heartbeat: heartbeat}, v, io.Discard, "v1.35.4")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.run.run(context.Background(), cmdSpec{}, "sh", "-c", script); err != nil {
			t.Fatal(err)
		}
		return progress.String()
	}

	out := run(100*time.Millisecond, "echo k8s.io/kubernetes/cmd/kubelet; sleep 0.5")
	if !strings.Contains(out, "still running after") || !strings.Contains(out, "sh -c") {
		t.Errorf("no heartbeat naming the command during a 0.5 s command:\n%s", out)
	}
	if !strings.Contains(out, "(last output: k8s.io/kubernetes/cmd/kubelet)") {
		t.Errorf("the heartbeat does not carry the last line of output:\n%s", out)
	}
	if n := strings.Count(out, "still running"); n < 2 || n > 6 {
		t.Errorf("%d heartbeats in 0.5 s at one per 100 ms:\n%s", n, out)
	}
	if out := run(time.Second, "true"); out != "" {
		t.Errorf("a quick command made a heartbeat:\n%s", out)
	}
	if out := run(-1, "sleep 0.3"); out != "" {
		t.Errorf("a negative heartbeat still beat:\n%s", out)
	}
}
