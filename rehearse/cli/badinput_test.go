package cli

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHostileInputExitsTwo feeds malformed scenarios and flags to commands
// that fail before any cluster is touched (plan on a kind scenario, report
// of a run folder, compare, load, canary serve). Each must exit 2 with one
// message naming the file, line and field, the --set, or the flag.
func TestHostileInputExitsTwo(t *testing.T) {
	const head = "apiVersion: rehearse.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: t\n"
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.bin")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))

	// Scenario files: the document, the field and its line, and what the
	// message says about it.
	files := []struct {
		name  string
		doc   string
		line  int
		field string
		want  string
	}{
		{"NaN rate", head + "load:\n  rate: .nan\n", 6, "load.rate", `".nan" is not a finite number`},
		{"infinite rate", head + "load:\n  rate: .inf\n", 6, "load.rate", `".inf" is not a finite number`},
		{"minus infinite rate", head + "load:\n  rate: -.inf\n", 6, "load.rate", `"-.inf" is not a finite number`},
		{"absurd rate", head + "load:\n  rate: 1e308\n", 6, "load.rate", "at most 50000"},
		{"rate past float64", head + "load:\n  rate: 1e999\n", 6, "load.rate", `"1e999" is not a number`},
		{"zero rate", head + "load:\n  rate: 0\n", 6, "load.rate", "want a positive number"},
		{"NaN alpha", head + "checks:\n  judge:\n    alpha: .nan\n", 7, "checks.judge.alpha", "not a finite number"},
		{"infinite alpha", head + "checks:\n  judge:\n    alpha: -.inf\n", 7, "checks.judge.alpha", "not a finite number"},
		{"absurd alpha", head + "checks:\n  judge:\n    alpha: 1e308\n", 7, "checks.judge.alpha", "is not between 0 and 1"},
		{"NaN p99 ratio", head + "checks:\n  judge:\n    maxP99Ratio: .nan\n", 7, "checks.judge.maxP99Ratio", "not a finite number"},
		{"absurd p99 ratio", head + "checks:\n  judge:\n    maxP99Ratio: 1e308\n", 7, "checks.judge.maxP99Ratio", "is above 1000"},
		{"p99 ratio below 1", head + "checks:\n  judge:\n    maxP99Ratio: 0.5\n", 7, "checks.judge.maxP99Ratio", "must be at least 1"},
		{"infinite error increase", head + "checks:\n  judge:\n    maxErrorRateIncrease: .inf\n", 7, "checks.judge.maxErrorRateIncrease", "not a finite number"},
		{"absurd error increase", head + "checks:\n  judge:\n    maxErrorRateIncrease: 1e308\n", 7, "checks.judge.maxErrorRateIncrease", "not a fraction between 0 and 1"},
		{"negative min samples", head + "checks:\n  judge:\n    minSamples: -1\n", 7, "checks.judge.minSamples", "is negative"},
		{"absurd min samples", head + "checks:\n  judge:\n    minSamples: 9223372036854775807\n", 7, "checks.judge.minSamples", "more requests than a phase sends"},
		{"replicas past int32", head + "canary:\n  replicas: 2147483648\n", 6, "canary.replicas", "overflows the Deployment's replicas"},
		{"no replicas", head + "canary:\n  replicas: 0\n", 6, "canary.replicas", "at least one replica"},
		{"minAvailable past int32", head + "canary:\n  pdb:\n    minAvailable: 2147483648\n", 7, "canary.pdb.minAvailable", "overflows"},
		{"maxUnavailable past int32", head + "canary:\n  pdb:\n    maxUnavailable: 9223372036854775807\n", 7, "canary.pdb.maxUnavailable", "overflows"},
		{"negative maxUnavailable", head + "canary:\n  pdb:\n    maxUnavailable: -1\n", 7, "canary.pdb.maxUnavailable", "is negative"},
		{"node port below range", head + "canary:\n  nodePort: 80\n", 6, "canary.nodePort", "outside the NodePort range 30000-32767"},
		{"node port above range", head + "canary:\n  nodePort: 40000\n", 6, "canary.nodePort", "outside the NodePort range 30000-32767"},
		{"node port past int64", head + "canary:\n  nodePort: 99999999999999999999\n", 6, "canary.nodePort", "is not a whole number"},
		{"no control plane", head + "cluster:\n  controlPlanes: 0\n", 6, "cluster.controlPlanes", "at least one control plane"},
		{"too many control planes", head + "cluster:\n  controlPlanes: 11\n  workers: 0\n", 6, "cluster.controlPlanes", "at most 10 nodes"},
		{"workers that overflow the sum", head + "cluster:\n  controlPlanes: 1\n  workers: 9223372036854775807\n", 7, "cluster.workers", "at most 10 nodes"},
		{"negative workers", head + "cluster:\n  workers: -1\n", 6, "cluster.workers", "is negative"},
		{"too many nodes", head + "cluster:\n  controlPlanes: 5\n  workers: 6\n", 7, "cluster.workers", "11 nodes in all"},
		{"kubeadm batch past any cluster", head + "cluster:\n  workers: 0\nupgrade:\n  kubeadm:\n    maxUnavailable: 1000\n", 9, "upgrade.kubeadm.maxUnavailable", "more than the 10 nodes"},
		{"name that escapes output.dir", strings.Replace(head, "name: t", "name: ../../etc", 1), 4, "metadata.name", "is not a DNS-1123 label"},
		{"name with capitals", strings.Replace(head, "name: t", "name: Prod", 1), 4, "metadata.name", "is not a DNS-1123 label"},
		{"name too long", strings.Replace(head, "name: t", "name: "+strings.Repeat("x", 64), 1), 4, "metadata.name", "is not a DNS-1123 label"},
		{"name missing", strings.Replace(head, "name: t", "description: no name", 1), 3, "metadata.name", "missing"},
		{"apiVersion missing", strings.TrimPrefix(head, "apiVersion: rehearse.dev/v1alpha1\n"), 1, "apiVersion", "missing"},
		{"kind missing", strings.Replace(head, "kind: Scenario\n", "", 1), 1, "kind", "missing"},
		{"absurd duration", head + "load:\n  baseline: 2000h\n", 6, "load.baseline", "longer than 168h"},
		{"duration past int64", head + "load:\n  after: 9999999999h\n", 6, "load.after", "is not a duration"},
		{"unknown report format", head + "output:\n  formats: [json, pdf]\n", 6, "output.formats[1]", `unknown report format "pdf"`},
		{"vendor version for a kind cluster", head + "cluster:\n  kubernetesVersion: v1.35.4+k3s1\n", 6, "cluster.kubernetesVersion", "is not a Kubernetes version like v1.35.4"},
		{"two minors ahead", head + "upgrade:\n  target: v1.37.0\n", 6, "upgrade.target", "more than one minor version ahead"},
		{"unknown probe", head + "load:\n  probes: [reuse, udp]\n", 6, "load.probes[1]", `unknown probe kind "udp"`},
		{"wrong kind", strings.Replace(head, "kind: Scenario", "kind: Pod", 1), 2, "kind", `"Pod": want Scenario`},
	}
	for _, tc := range files {
		t.Run("plan "+tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tc.doc), 0o644))
			r := run(t, context.Background(), "plan", path)
			assert.Equal(t, ExitBadInput, r.code, "stderr: %s", r.err)
			assert.Contains(t, r.err, path+":"+strconv.Itoa(tc.line)+": "+tc.field+": ", "the message names the file, line and field")
			assert.Contains(t, r.err, tc.want)
			assert.Equal(t, 1, strings.Count(r.err, "rehearse: "), "the error is printed once: %q", r.err)
		})
	}

	// A second document is not ignored: the message names its line.
	t.Run("plan second document", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s.yaml")
		require.NoError(t, os.WriteFile(path, []byte(head+"---\n"+head), 0o644))
		r := run(t, context.Background(), "plan", path)
		assert.Equal(t, ExitBadInput, r.code, "stderr: %s", r.err)
		assert.Contains(t, r.err, path+":6: a second YAML document")
	})

	// A run folder's scenario is checked as strictly when it is reported
	// again.
	t.Run("report of a run folder with a hostile scenario", func(t *testing.T) {
		folder := t.TempDir()
		path := filepath.Join(folder, "scenario.yaml")
		require.NoError(t, os.WriteFile(path, []byte(head+"output:\n  formats: [pdf]\n"), 0o644))
		r := run(t, context.Background(), "report", folder, "--no-write")
		assert.Equal(t, ExitBadInput, r.code, "stderr: %s", r.err)
		assert.Contains(t, r.err, path+`:6: output.formats[0]: unknown report format "pdf"`)
	})

	// Overrides and flags: each message names the --set or the flag.
	flags := []struct {
		name string
		args []string
		want string
	}{
		{"--set NaN rate", []string{"plan", "--set", "load.rate=.nan"}, `--set load.rate=.nan: load.rate: ".nan" is not a finite number`},
		{"--set replicas past int32", []string{"plan", "--set", "canary.replicas=2147483648"}, "--set canary.replicas=2147483648: canary.replicas: 2147483648 overflows"},
		{"--set name with a path", []string{"plan", "--set", "metadata.name=../x"}, `--set metadata.name=../x: metadata.name: "../x" is not a DNS-1123 label`},
		{"--set unknown format", []string{"plan", "--set", "output.formats=[pdf]"}, `--set output.formats=[pdf]: output.formats[0]: unknown report format "pdf"`},
		{"--set infinite alpha", []string{"plan", "--set", "checks.judge.alpha=.inf"}, `--set checks.judge.alpha=.inf: checks.judge.alpha: ".inf" is not a finite number`},
		{"compare NaN alpha", []string{"compare", empty, empty, "--alpha", "NaN"}, "--alpha"},
		{"compare infinite p99 ratio", []string{"compare", empty, empty, "--max-p99-ratio", "Inf"}, "--max-p99-ratio"},
		{"compare NaN error increase", []string{"compare", empty, empty, "--max-error-increase", "NaN"}, "--max-error-increase"},
		{"compare absurd alpha", []string{"compare", empty, empty, "--alpha", "1e308"}, "--alpha"},
		{"load NaN rate", []string{"load", "--out", filepath.Join(dir, "load-nan"), "--target", "http://127.0.0.1:1/", "--duration", "1s", "--rate", "NaN"}, "--rate"},
		{"load infinite rate", []string{"load", "--out", filepath.Join(dir, "load-inf"), "--target", "http://127.0.0.1:1/", "--duration", "1s", "--rate", "Inf"}, "--rate"},
		{"canary NaN fail rate", []string{"canary", "serve", "--addr", "127.0.0.1:0", "--fail-rate", "NaN"}, "--fail-rate"},
	}
	for _, tc := range flags {
		t.Run(tc.name, func(t *testing.T) {
			// A command that wrongly accepts its input stops here instead
			// of serving or sending for good.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r := run(t, ctx, tc.args...)
			assert.Equal(t, ExitBadInput, r.code, "stderr: %s", r.err)
			assert.Contains(t, r.err, tc.want)
		})
	}
	require.GreaterOrEqual(t, len(files)+2+len(flags), 40)
}
