package scenarios

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeFiles makes files (path: content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(content), 0o644))
	}
}

const targetsScenario = base + `workloads:
  - path: manifests
    namespace: shop
  - path: fragile/kustomization.yaml
    wait: false
    timeout: 90s
images:
  - images/shop.tar
  - localhost/rehearse/shop:example
load:
  rate: 120
  targets:
    - name: shop
      service: {namespace: shop, name: shop, port: http}
      path: /api/items
      headers: {X-Tenant: acme, Host: shop.example}
      expect:
        status: [200]
        bodyContains: anvil
      share: 2
    - name: legacy
      url: http://10.0.0.9:8080/
      method: POST
      body: '{"ping":true}'
      probe: fresh
    - name: admin
      service: {namespace: admin, name: admin, port: 8443}
`

// TestTargetsWorkloadsImages: a scenario with targets, workloads and
// images loads with the defaults filled and its files found relative to
// its own folder.
func TestTargetsWorkloadsImages(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"manifests/shop.yaml":           "kind: List\n",
		"fragile/kustomization.yaml":    "resources: [../manifests]\n",
		"images/shop.tar":               "not really a tar",
		"rehearsal.yaml":                targetsScenario,
		"elsewhere/ignored/placeholder": "",
	})
	s, err := Load(filepath.Join(dir, "rehearsal.yaml"))
	require.NoError(t, err)

	require.Len(t, s.Workloads, 2)
	assert.Equal(t, filepath.Join(dir, "manifests"), s.Workloads[0].Path)
	assert.Equal(t, "shop", s.Workloads[0].Namespace)
	assert.True(t, s.Workloads[0].Waits(), "wait defaults to true")
	require.NotNil(t, s.Workloads[0].Wait)
	assert.Equal(t, DefaultWorkloadTimeout, s.Workloads[0].Timeout.Duration)
	assert.Equal(t, filepath.Join(dir, "fragile", "kustomization.yaml"), s.Workloads[1].Path)
	assert.False(t, s.Workloads[1].Waits())
	assert.Equal(t, 90*time.Second, s.Workloads[1].Timeout.Duration)
	assert.Equal(t, []string{filepath.Join(dir, "images", "shop.tar"), "localhost/rehearse/shop:example"}, s.Images)

	require.Len(t, s.Load.Targets, 3)
	shop, legacy, admin := s.Load.Targets[0], s.Load.Targets[1], s.Load.Targets[2]
	assert.Equal(t, &ServiceRef{Namespace: "shop", Name: "shop", Port: Port{Name: "http"}}, shop.Service)
	assert.Equal(t, "GET", shop.Method)
	assert.Equal(t, map[string]string{"X-Tenant": "acme", "Host": "shop.example"}, shop.Headers)
	assert.Equal(t, Expect{Status: []int{200}, BodyContains: "anvil"}, shop.Expect)
	assert.Equal(t, 2.0, *shop.Share)
	assert.Equal(t, ProbeReuse, shop.Probe)
	assert.Equal(t, "http://10.0.0.9:8080/", legacy.URL)
	assert.Equal(t, "POST", legacy.Method)
	assert.Equal(t, `{"ping":true}`, legacy.Body)
	assert.Equal(t, DefaultShare, *legacy.Share)
	assert.Equal(t, ProbeFresh, legacy.Probe)
	assert.Equal(t, Port{Number: 8443}, admin.Service.Port)
	assert.Equal(t, Probes(), s.Load.Probes, "the canary's probes stay")

	// What is written into a run folder reads back the same.
	b, err := Marshal(s)
	require.NoError(t, err)
	back, err := Parse(filepath.Join(dir, "round-trip.yaml"), b)
	require.NoError(t, err, string(b))
	assert.Equal(t, s, back)
	j, err := json.Marshal(s.Load.Targets)
	require.NoError(t, err)
	assert.Contains(t, string(j), `"port":"http"`)
	assert.Contains(t, string(j), `"port":8443`)
}

// TestCanaryDisabled: a scenario may load only the user's targets; then
// no canary probes run and an existing cluster needs no canary image.
func TestCanaryDisabled(t *testing.T) {
	s, err := Parse("t.yaml", []byte(base+`cluster:
  provider: existing
  kubeconfig: k
upgrade:
  driver: exec
  exec:
    command: [true]
canary:
  disabled: true
load:
  rate: 5
  targets:
    - name: shop
      url: http://shop.example/
`))
	require.NoError(t, err)
	assert.True(t, s.Canary.Disabled)
	assert.Empty(t, s.Load.Probes, "no canary probes without the canary")
	require.Len(t, s.Load.Targets, 1)

	s, err = Default("canary.disabled=true", `load.targets=[{name: shop, url: "http://x/"}]`, "load.rate=1")
	require.NoError(t, err, "one target at 1/s is enough without the canary's probes")
	assert.Empty(t, s.Load.Probes, "the default scenario's probes are dropped with the canary")
	assert.Equal(t, "shop", s.Load.Targets[0].Name)

	d, err := Default()
	require.NoError(t, err)
	assert.False(t, d.Canary.Disabled)
	assert.Empty(t, d.Load.Targets)
	assert.Empty(t, d.Workloads)
	assert.Empty(t, d.Images)
}

// TestMalformedTargets: each bad target, workload or image and the exact
// error it gets, at its file, line and field.
func TestMalformedTargets(t *testing.T) {
	target := func(lines ...string) string {
		return base + "load:\n  targets:\n    - " + strings.Join(lines, "\n      ") + "\n"
	}
	tests := []struct {
		name string
		doc  string
		sets []string
		want string
	}{
		{"no name", target("url: http://x/"), nil, `t.yaml:7: load.targets[0]: missing: name the target`},
		{"bad name", target("name: Shop", "url: http://x/"), nil, `t.yaml:7: load.targets[0].name: "Shop" is not a DNS-1123 label`},
		{"duplicate name", base + "load:\n  targets:\n    - {name: shop, url: 'http://x/'}\n    - {name: shop, url: 'http://y/'}\n", nil, `t.yaml:8: load.targets[1].name: "shop" given twice (also load.targets[0])`},
		{"url and service", target("name: shop", "url: http://x/", "service: {namespace: a, name: b, port: 80}"), nil, `t.yaml:7: load.targets[0]: url and service together: give one`},
		{"neither url nor service", target("name: shop"), nil, `t.yaml:7: load.targets[0]: missing: give url (an absolute http or https URL) or service {namespace, name, port}`},
		{"relative url", target("name: shop", "url: /shop"), nil, `t.yaml:8: load.targets[0].url: "/shop": want an absolute http or https URL`},
		{"ftp url", target("name: shop", "url: ftp://x/"), nil, `t.yaml:8: load.targets[0].url: "ftp://x/": want an absolute http or https URL`},
		{"unknown target field", target("name: shop", "urls: http://x/"), nil, `t.yaml:8: load.targets[0].urls: unknown field (did you mean "url"?); known: body, expect, headers, method, name, path, probe, service, share, url`},
		{"service without namespace", target("name: shop", "service: {name: b, port: 80}"), nil, `t.yaml:8: load.targets[0].service: missing: the Service's namespace`},
		{"service without port", target("name: shop", "service: {namespace: a, name: b}"), nil, `t.yaml:8: load.targets[0].service: missing: the Service's port`},
		{"bad service name", target("name: shop", "service:", "  namespace: a", "  name: 1shop", "  port: 80"), nil, `t.yaml:10: load.targets[0].service.name: "1shop" is not a Service name`},
		{"port out of range", target("name: shop", "service:", "  namespace: a", "  name: b", "  port: 70000"), nil, `t.yaml:11: load.targets[0].service.port: 70000 is not a port number (1-65535)`},
		{"bad port name", target("name: shop", "service:", "  namespace: a", "  name: b", "  port: web_port"), nil, `t.yaml:11: load.targets[0].service.port: "web_port" is not a port name`},
		{"port as a list", target("name: shop", "service:", "  namespace: a", "  name: b", "  port: [80]"), nil, `t.yaml:11: load.targets[0].service.port: want a port number such as 80 or a port name such as http`},
		{"lower-case method", target("name: shop", "url: http://x/", "method: get"), nil, `t.yaml:9: load.targets[0].method: "get": want one of DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, TRACE`},
		{"relative path", target("name: shop", "url: http://x/", "path: api/items"), nil, `t.yaml:9: load.targets[0].path: "api/items": want a path starting with '/'`},
		{"bad header name", target("name: shop", "url: http://x/", "headers: {X Tenant: a}"), nil, `t.yaml:9: load.targets[0].headers: "X Tenant" is not an HTTP header name`},
		{"status out of range", target("name: shop", "url: http://x/", "expect:", "  status: [200, 600]"), nil, `t.yaml:10: load.targets[0].expect.status[1]: 600 is not an HTTP status code (100-599)`},
		{"status not a number", target("name: shop", "url: http://x/", "expect:", "  status: [ok]"), nil, `t.yaml:10: load.targets[0].expect.status[0]: "ok" is not a whole number`},
		{"body of a HEAD", target("name: shop", "url: http://x/", "method: HEAD", "expect: {bodyContains: ok}"), nil, `t.yaml:10: load.targets[0].expect.bodyContains: a HEAD response has no body`},
		{"zero share", target("name: shop", "url: http://x/", "share: 0"), nil, `t.yaml:9: load.targets[0].share: 0: want a weight above 0`},
		{"negative share", target("name: shop", "url: http://x/", "share: -2"), nil, `t.yaml:9: load.targets[0].share: -2: want a weight above 0`},
		{"NaN share", target("name: shop", "url: http://x/", "share: .nan"), nil, `t.yaml:9: load.targets[0].share: ".nan" is not a finite number`},
		{"infinite share", target("name: shop", "url: http://x/", "share: .inf"), nil, `t.yaml:9: load.targets[0].share: ".inf" is not a finite number`},
		{"unknown probe", target("name: shop", "url: http://x/", "probe: udp"), nil, `t.yaml:9: load.targets[0].probe: unknown probe kind "udp"; known: reuse, fresh`},
		{"share too small for the rate", base + "load:\n  rate: 10\n  targets:\n    - {name: shop, url: 'http://x/', share: 0.1}\n", nil, `t.yaml:6: load.rate: 10/s split by weight over 3 streams leaves load.targets[0] (shop, share 0.1) 0.476/s, below 1/s: raise the rate or the share`},
		{"probes too many for the rate", base + "load:\n  rate: 2\n  targets:\n    - {name: shop, url: 'http://x/', share: 5}\n", nil, `t.yaml:6: load.rate: 2/s split by weight over 3 streams leaves each probe kind 0.286/s, below 1/s`},
		{"canary disabled without targets", base + "canary:\n  disabled: true\n", nil, `t.yaml:6: load.targets: the canary is disabled (canary.disabled): name the applications to load`},
		{"canary disabled by --set without targets", base, []string{"canary.disabled=true"}, `t.yaml: load.targets: the canary is disabled`},
		{"target by --set", base, []string{"load.targets=[{name: shop}]"}, `--set load.targets=[{name: shop}]: load.targets[0]: missing: give url`},
		{"workload without path", base + "workloads:\n  - namespace: shop\n", nil, `t.yaml:6: workloads[0]: missing: path, a manifest file or folder`},
		{"missing workload", base + "workloads:\n  - path: ./nope\n", nil, `t.yaml:6: workloads[0].path: stat nope: no such file or directory`},
		{"workload not a manifest", base + "workloads:\n  - path: scenario.go\n", nil, `t.yaml:6: workloads[0].path: scenario.go: want a manifest file (.yaml, .yml, .json) or a folder`},
		{"bad workload namespace", base + "workloads:\n  - path: examples\n    namespace: Shop\n", nil, `t.yaml:7: workloads[0].namespace: "Shop" is not a namespace name`},
		{"bad workload timeout", base + "workloads:\n  - path: examples\n    timeout: 5 minutes\n", nil, `t.yaml:7: workloads[0].timeout: "5 minutes" is not a duration such as 30s or 2m`},
		{"workload wait not a boolean", base + "workloads:\n  - path: examples\n    wait: sometimes\n", nil, `t.yaml:7: workloads[0].wait: "sometimes" is not a boolean (true or false)`},
		{"workloads not a list", base + "workloads: examples\n", nil, `t.yaml:5: workloads: want a list`},
		{"empty image", base + "images: ['']\n", nil, `t.yaml:5: images[0]: empty: an image archive (.tar) or the name of an image`},
		{"missing image archive", base + "images:\n  - shop.tar\n", nil, `t.yaml:6: images[0]: image archive: stat shop.tar: no such file or directory`},
		{"bad image name", base + "images:\n  - localhost/Shop:dev\n", nil, `t.yaml:6: images[0]: "localhost/Shop:dev" is neither an image archive (.tar) nor an image name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.doc), tc.sets...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestLineOfListItems: errors inside a list point at the item's line.
func TestLineOfListItems(t *testing.T) {
	src := &source{sets: map[string]string{}}
	doc, err := readDocument("t.yaml", []byte("a:\n  list:\n    - x: 1\n    - x: 2\n      y: 3\n"))
	require.NoError(t, err)
	src.root = doc.Content[0]
	for path, line := range map[string]int{"a.list": 2, "a.list[0]": 3, "a.list[1]": 4, "a.list[1].y": 5, "a.list[1].z": 4, "a.list[7]": 2, "a.list[1][0]": 4} {
		assert.Equal(t, line, lineOf(src.root, path), path)
	}
	assert.Equal(t, "2", nodeAt(src.root, "a.list[1].x").Value)
	assert.Nil(t, nodeAt(src.root, "a.list[2].x"))
	assert.True(t, present(src, "a.list[1].y"))
	assert.False(t, present(src, "a.list[0].y"))
}

// A run folder's scenario names workloads by paths that need not exist
// where the folder is re-reported: read as recorded, they are not looked
// for; read as a scenario to run, a missing one is an error.
func TestRecordedScenarioNeedsNoFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "scenario.yaml")
	body := "apiVersion: rehearse.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: recorded\nworkloads:\n  - path: gone/manifests\nimages:\n  - gone/app.tar\n"
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	_, err := Load(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "workloads[0].path")
	sc, err := Loader{Recorded: true}.Load(path)
	require.NoError(t, err)
	assert.Len(t, sc.Workloads, 1)
}
