package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
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
				case "kubeconfig":
					assert.NotNil(t, flags.Lookup("context"), "--kubeconfig comes with --context")
				case "namespace":
					assert.Equal(t, "n", f.Shorthand, "--namespace has -n")
				case "quiet":
					assert.NotNil(t, flags.Lookup("verbose"), "--quiet comes with --verbose")
				case "verbose":
					assert.Equal(t, "v", f.Shorthand, "--verbose has -v")
				}
			})
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)

	// Commands that talk to a cluster name it as kubectl does; commands
	// that run long can be quiet or verbose.
	find := func(path ...string) *cobra.Command {
		c, _, err := root.Find(path)
		require.NoError(t, err, path)
		return c
	}
	for _, path := range [][]string{{"check"}, {"plan"}, {"profile"}, {"canary", "deploy"}, {"canary", "delete"}, {"run"}} {
		c := find(path...)
		for _, name := range []string{"kubeconfig", "context"} {
			assert.NotNil(t, c.Flags().Lookup(name), "%s has --%s", c.CommandPath(), name)
		}
	}
	for _, path := range [][]string{{"check"}, {"plan"}, {"profile"}, {"canary", "deploy"}, {"canary", "delete"}} {
		c := find(path...)
		assert.NotNil(t, c.Flags().Lookup("request-timeout"), "%s has --request-timeout", c.CommandPath())
	}
	for _, path := range [][]string{{"run"}, {"load"}, {"images", "build"}, {"cluster", "create"}, {"cluster", "delete"}, {"canary", "deploy"}} {
		c := find(path...)
		flags := c.Flags()
		flags.AddFlagSet(c.InheritedFlags())
		for _, name := range []string{"quiet", "verbose"} {
			assert.NotNil(t, flags.Lookup(name), "%s has --%s", c.CommandPath(), name)
		}
	}
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
		{"run quiet and verbose", []string{"run", "--quiet", "-v"}, ExitBadInput, "--quiet and --verbose: choose one"},
		{"load quiet and verbose", []string{"load", "--out", filepath.Join(dir, "l"), "--target", "http://127.0.0.1:1/", "--quiet", "--verbose"}, ExitBadInput, "--quiet and --verbose: choose one"},
		{"images build quiet and verbose", []string{"images", "build", "--kubernetes", "v1.35.4", "--quiet", "-v"}, ExitBadInput, "--quiet and --verbose: choose one"},
		{"cluster quiet and verbose", []string{"cluster", "list", "--quiet", "-v"}, ExitBadInput, "--quiet and --verbose: choose one"},
		{"run --kubeconfig on a kind scenario", []string{"run", "--kubeconfig", filepath.Join(dir, "kubeconfig")}, ExitBadInput, `--kubeconfig/--context name an existing cluster to rehearse on, but scenario "kind-inplace-minor" makes a throwaway kind cluster`},
		{"canary -n is checked", []string{"canary", "deploy", "--kubeconfig", filepath.Join(dir, "kubeconfig"), "-n", "Not_A_Label"}, ExitBadInput, `--namespace "Not_A_Label"`},
		{"check --request-timeout is checked", []string{"check", "--kubeconfig", filepath.Join(dir, "kubeconfig"), "--request-timeout", "soon"}, ExitBadInput, "--request-timeout"},
		{"plan --context names the missing context", []string{"plan", "--kubeconfig", writeKubeconfig(t, dir), "--context", "prod"}, ExitBadInput, `no context "prod"; contexts: kind-demo`},
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

// writeKubeconfig writes a kubeconfig with one context, kind-demo, whose
// server no one answers, and returns its path.
func writeKubeconfig(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "demo.kubeconfig")
	require.NoError(t, os.WriteFile(path, []byte(`apiVersion: v1
kind: Config
clusters: [{name: demo, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: demo, user: {}}]
contexts: [{name: kind-demo, context: {cluster: demo, user: demo}}]
current-context: kind-demo
`), 0o600))
	return path
}

// Progress written to a file or a CI log is whole lines, never carriage
// returns; --verbose prints one a second and each phase switch.
func TestLoadProgressOffATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("sends real load for 2.5 s; run without -short")
	}
	addr := serveCanary(t)
	out := filepath.Join(t.TempDir(), "load")
	r := run(t, context.Background(), "load", "--target", "http://"+addr+"/", "--rate", "20/1s",
		"--duration", "2500ms", "--phase-switch", "1s=upgrade", "--out", out, "--verbose")
	require.Equal(t, ExitPass, r.code, r.err)
	assert.NotContains(t, r.err, "\r", "no carriage returns off a terminal")
	assert.Contains(t, r.err, "phase upgrade from 1s\n")
	assert.GreaterOrEqual(t, strings.Count(r.err, "sent "), 2, "a line every second with --verbose:\n%s", r.err)

	r = run(t, context.Background(), "load", "--target", "http://"+addr+"/", "--rate", "20/1s",
		"--duration", "1500ms", "--out", filepath.Join(t.TempDir(), "quiet"), "--quiet")
	require.Equal(t, ExitPass, r.code, r.err)
	assert.NotContains(t, r.err, "sent ", "--quiet prints no progress")
}
