package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestScenarioName(t *testing.T) {
	long := strings.Repeat("a", 60) + "_b-" + strings.Repeat("c", 10)
	for _, tc := range []struct {
		name, flag, out string
		want            string
		err             string
	}{
		{"default", "", "", "profiled", ""},
		{"flag as given", "prod-eu", "x.yaml", "prod-eu", ""},
		{"from the output file", "", "/tmp/prod.yaml", "prod", ""},
		{"underscore in the output file", "", "prod_shape.yaml", "prod-shape", ""},
		{"upper case and dots in the output file", "", "out/Prod.EU..Shape.yml", "prod-eu-shape", ""},
		{"leading and trailing junk", "", "__prod__.yaml", "prod", ""},
		{"too long", "", long + ".yaml", strings.Repeat("a", 60) + "-b", ""},
		{"nothing usable", "", "___.yaml", "profiled", ""},
		{"flag with an underscore refused", "prod_shape", "", "", `--name "prod_shape": the scenario's name must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (e.g. prod-shape)`},
		{"flag in upper case refused", "Prod", "", "", `--name "Prod"`},
		{"flag too long refused", strings.Repeat("a", 64), "", "", "at most 63 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scenarioName(tc.flag, tc.out)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Empty(t, validation.IsDNS1123Label(got), "%q is a DNS-1123 label", got)
		})
	}
}

// A --name that cannot name a scenario is refused with exit 2 before the
// API server is dialled.
func TestProfileBadNameExitsTwo(t *testing.T) {
	url, kc := hangingAPIServer(t)
	r := run(t, context.Background(), "profile", "--kubeconfig", kc, "--name", "Prod_Shape", "--out", filepath.Join(t.TempDir(), "p.yaml"))
	assert.Equal(t, ExitBadInput, r.code, "stderr: %s", r.err)
	assert.Contains(t, r.err, `--name "Prod_Shape"`)
	assert.Contains(t, r.err, "(e.g. prod-shape)")
	assert.NotContains(t, r.err, url, "refused before the API server is dialled")
}
