package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/rehearse/rehearse/rehearse/cluster"
)

// outputAsPath are commands whose -o still names a file, to be moved to
// --out; each is printed when the test runs.
var outputAsPath = map[string]string{}

// Every command follows kubectl's conventions: -o/--output is a format, --out
// a path; -v is --verbose, never --version; the container engine is
// --engine.
func TestFlagConventions(t *testing.T) {
	root := newRoot(Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := c.CommandPath()
		t.Run(path, func(t *testing.T) {
			flags := c.Flags()
			flags.AddFlagSet(c.InheritedFlags())
			flags.VisitAll(func(f *pflag.Flag) {
				switch {
				case f.Shorthand == "o":
					assert.Equal(t, "output", f.Name, "-o is --output")
				case f.Shorthand == "v":
					assert.Equal(t, "verbose", f.Name, "-v is --verbose")
				case f.Name == "provider" && f.Hidden:
					assert.NotNil(t, flags.Lookup("engine"), "--provider is the deprecated name of --engine")
				}
				switch f.Name {
				case "output":
					assert.Equal(t, "o", f.Shorthand, "--output has -o")
					if why, ok := outputAsPath[path]; ok {
						t.Logf("%s: %s", path, why)
						return
					}
					assert.Contains(t, f.Usage, "format", "-o names a format")
				case "out":
					assert.Empty(t, f.Shorthand, "--out has no shorthand")
					assert.NotContains(t, f.Usage, "format")
				case "version":
					assert.Empty(t, f.Shorthand, "--version has no -v")
				case "provider", "container-engine":
					assert.True(t, f.Hidden, "the container engine is --engine")
				}
			})
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func TestOutputFormats(t *testing.T) {
	dir := t.TempDir()
	results := filepath.Join(dir, "results.bin")
	writeResults(t, results, 100)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stderr, or for exit 0 in stdout
	}{
		// Formats are checked before anything runs: no engine, cluster or
		// results are needed to refuse one.
		{"plan text", []string{"plan"}, ExitPass, "kubeadm upgrade to"},
		{"plan json", []string{"plan", "-o", "json"}, ExitPass, `"driver": "kubeadm"`},
		{"plan yaml", []string{"plan", "--output=yaml"}, ExitPass, "driver: kubeadm"},
		{"plan xml", []string{"plan", "-o", "xml"}, ExitBadInput, `--output: unknown format "xml"; known: text, json, yaml`},
		{"doctor xml", []string{"doctor", "-o", "xml"}, ExitBadInput, `--output: unknown format "xml"`},
		{"cluster list xml", []string{"cluster", "list", "-o", "xml"}, ExitBadInput, `--output: unknown format "xml"`},
		{"images list xml", []string{"images", "list", "-o", "xml"}, ExitBadInput, `--output: unknown format "xml"`},
		{"check xml", []string{"check", "-o", "xml"}, ExitBadInput, "--output: "},
		{"run xml", []string{"run", "-o", "xml"}, ExitBadInput, `--output: unknown report format "xml"`},
		{"compare xml", []string{"compare", results, results, "-o", "xml"}, ExitBadInput, `--output: unknown report format "xml"`},
		{"report xml", []string{"report", results, "-o", "xml", "--no-write"}, ExitBadInput, `--output: unknown report format "xml"`},
		{"compare yaml is not a report format", []string{"compare", results, results, "-o", "yaml"}, ExitBadInput, "known: html, json, junit, markdown, text"},
		{"-v is not --version", []string{"-v"}, ExitBadInput, "unknown shorthand flag: 'v' in -v"},
		{"cluster engine unknown", []string{"cluster", "list", "--engine", "lxc"}, ExitBadInput, `--engine: unknown container engine "lxc"; known: ` + strings.Join(cluster.Engines(), ", ")},
		{"cluster provider is --engine", []string{"cluster", "list", "--provider", "lxc"}, ExitBadInput, "--provider is deprecated; use --engine"},
		{"cluster engine and provider disagree", []string{"cluster", "list", "--engine", "podman", "--provider", "docker"}, ExitBadInput, "--engine podman and --provider docker disagree"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, ctx, tc.args...)
			require.Equal(t, tc.code, r.code, "stderr: %s\nstdout: %s", r.err, r.out)
			if tc.code == ExitPass {
				assert.Contains(t, r.out, tc.want)
			} else {
				assert.Contains(t, r.err, tc.want)
			}
		})
	}

	r := run(t, ctx, "plan", "-o", "json")
	var plan struct {
		Driver string `json:"driver"`
		Root   struct {
			Children []json.RawMessage `json:"children"`
		} `json:"root"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.out), &plan), r.out)
	assert.NotEmpty(t, plan.Root.Children)

	r = run(t, ctx, "--version")
	assert.Equal(t, ExitPass, r.code, r.err)
	assert.NotEmpty(t, strings.TrimSpace(r.out))
}

func TestDoctorDocument(t *testing.T) {
	results := []cluster.Result{
		{Check: "podman", Status: cluster.StatusOK, Message: "podman 5.4 runs privileged containers"},
		{Check: "modules", Status: cluster.StatusFail, Message: "/lib/modules is missing", Fix: "mkdir /lib/modules", FixErr: errors.New("read-only file system")},
	}
	var buf bytes.Buffer
	require.NoError(t, writeData(&buf, formatJSON, newDoctorReport(results), nil))
	var doc doctorReport
	require.NoError(t, json.Unmarshal(buf.Bytes(), &doc))
	assert.False(t, doc.Healthy)
	require.Len(t, doc.Checks, 2)
	assert.Equal(t, doctorResult{Check: "modules", Status: "FAIL", Message: "/lib/modules is missing", Fix: "mkdir /lib/modules", FixErr: "read-only file system"}, doc.Checks[1])

	buf.Reset()
	require.NoError(t, writeData(&buf, formatYAML, newDoctorReport(nil), nil))
	var empty doctorReport
	require.NoError(t, yaml.Unmarshal(buf.Bytes(), &empty))
	assert.True(t, empty.Healthy)
	assert.Contains(t, buf.String(), "checks: []")
}

// Installed as kubectl-rehearse on the PATH, the command is a kubectl plugin
// and its help says "kubectl rehearse".
func TestKubectlPluginName(t *testing.T) {
	for _, tc := range []struct{ arg0, want string }{
		{"rehearse", "rehearse"},
		{"/usr/local/bin/rehearse", "rehearse"},
		{"/usr/local/bin/kubectl-rehearse", "kubectl rehearse"},
		{`C:\bin\kubectl-rehearse.exe`, "kubectl rehearse"},
		{"./bin/kubectl-other", "rehearse"},
	} {
		assert.Equal(t, tc.want, displayName(filepath.ToSlash(strings.ReplaceAll(tc.arg0, `\`, "/"))), tc.arg0)
	}

	for _, tc := range []struct {
		name    string
		program string
		args    []string
		want    []string
		not     string
	}{
		{"root help", pluginName, []string{"--help"}, []string{"kubectl rehearse [command]", `Use "kubectl rehearse [command] --help"`}, "\n  rehearse [command]"},
		{"subcommand help", pluginName, []string{"compare", "--help"}, []string{"kubectl rehearse compare BASELINE CANDIDATE"}, ""},
		{"own name", programName, []string{"--help"}, []string{"\n  rehearse [command]"}, "kubectl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := runAs(context.Background(), Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, tc.program, tc.args)
			require.NoError(t, err, errb.String())
			for _, w := range tc.want {
				assert.Contains(t, out.String(), w)
			}
			if tc.not != "" {
				assert.NotContains(t, out.String(), tc.not)
			}
		})
	}
	var out, errb bytes.Buffer
	err := runAs(context.Background(), Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, pluginName, []string{"nope"})
	assert.Equal(t, ExitBadInput, exitCode(&errb, err))
	assert.Contains(t, errb.String(), `unknown command "nope" for "kubectl rehearse"`)
}
