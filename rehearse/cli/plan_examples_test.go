package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every example scenario has a plan that rehearse plan prints, before any
// cluster exists: what it prints is what a rehearsal runs.
func TestPlanEveryExample(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "scenarios", "examples", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			r := run(t, context.Background(), "plan", f)
			require.Equal(t, 0, r.code, "stderr: %s", r.err)
			lines := strings.Split(strings.TrimSpace(r.out), "\n")
			require.GreaterOrEqual(t, len(lines), 3, "a title, a root and at least one step:\n%s", r.out)
			if strings.Contains(string(b), "driver: none") {
				assert.Contains(t, lines[0], "fault drills at ", r.out)
			} else {
				assert.Contains(t, lines[0], "upgrade to ", r.out)
			}
			assert.Contains(t, r.out, "[ ] ", "steps not run yet are shown pending")
			if strings.Contains(string(b), "driver: exec") {
				assert.Contains(t, r.out, "run ", "the exec driver's one step is its command")
			}
		})
	}
}
