package lb

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func threeControlPlanes() kindData {
	return kindData{
		ControlPlanePort: 6443,
		BackendServers: map[string]string{
			"kind-control-plane3": "kind-control-plane3:6443",
			"kind-control-plane":  "kind-control-plane:6443",
			"kind-control-plane2": "kind-control-plane2:6443",
		},
	}
}

func TestParseFilesKindTemplates(t *testing.T) {
	t.Run("ipv4 three control planes", func(t *testing.T) {
		d := threeControlPlanes()
		cfg, err := ParseFiles([]byte(renderKind(t, "lds.yaml.tmpl", d)), []byte(renderKind(t, "cds.yaml.tmpl", d)))
		require.NoError(t, err)
		assert.Equal(t, Config{
			Listen:         "0.0.0.0:6443",
			Cluster:        "kube_apiservers",
			Backends:       []string{"kind-control-plane:6443", "kind-control-plane2:6443", "kind-control-plane3:6443"},
			ConnectTimeout: 250 * time.Millisecond,
			HealthInterval: 2 * time.Second,
			HealthTimeout:  3 * time.Second,
			Unhealthy:      2,
			Healthy:        1,
			HealthPath:     "/healthz",
			HealthTLS:      true,
		}, cfg)
	})
	t.Run("ipv6 two control planes", func(t *testing.T) {
		d := kindData{ControlPlanePort: 6443, IPv6: true, BackendServers: map[string]string{
			"a": "[fc00:f853:ccd:e793::3]:6443",
			"b": "b-control-plane2:6443",
		}}
		cfg, err := ParseFiles([]byte(renderKind(t, "lds.yaml.tmpl", d)), []byte(renderKind(t, "cds.yaml.tmpl", d)))
		require.NoError(t, err)
		assert.Equal(t, "[::]:6443", cfg.Listen)
		assert.Equal(t, []string{"[fc00:f853:ccd:e793::3]:6443", "b-control-plane2:6443"}, cfg.Backends)
		assert.True(t, cfg.HealthTLS)
	})
	t.Run("plain http health check without a tls match", func(t *testing.T) {
		d := threeControlPlanes()
		cds := strings.Replace(renderKind(t, "cds.yaml.tmpl", d), `tls_mode: "true"`, `tls_mode: "false"`, 1)
		cfg, err := ParseFiles([]byte(renderKind(t, "lds.yaml.tmpl", d)), []byte(cds))
		require.NoError(t, err)
		assert.False(t, cfg.HealthTLS)
		assert.Equal(t, "/healthz", cfg.HealthPath)
	})
}

func TestParseFilesEmptyResources(t *testing.T) {
	empty := []byte("resources: []")
	d := threeControlPlanes()
	lds := []byte(renderKind(t, "lds.yaml.tmpl", d))
	cds := []byte(renderKind(t, "cds.yaml.tmpl", d))

	cfg, err := ParseFiles(empty, empty)
	require.NoError(t, err)
	assert.Empty(t, cfg.Listen)
	assert.Empty(t, cfg.Backends)
	assert.Empty(t, cfg.HealthPath)

	// kind moves cds.yaml into place before lds.yaml; either half alone
	// is a usable Config.
	cfg, err = ParseFiles(empty, cds)
	require.NoError(t, err)
	assert.Empty(t, cfg.Listen)
	assert.Len(t, cfg.Backends, 3)

	cfg, err = ParseFiles(lds, empty)
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:6443", cfg.Listen)
	assert.Equal(t, "kube_apiservers", cfg.Cluster)
	assert.Empty(t, cfg.Backends)

	// A listener naming another cluster gets no backends.
	cfg, err = ParseFiles([]byte(strings.Replace(string(lds), "cluster: kube_apiservers", "cluster: other", 1)), cds)
	require.NoError(t, err)
	assert.Equal(t, "other", cfg.Cluster)
	assert.Empty(t, cfg.Backends)
}

func TestParseFilesErrors(t *testing.T) {
	d := threeControlPlanes()
	lds := renderKind(t, "lds.yaml.tmpl", d)
	cds := renderKind(t, "cds.yaml.tmpl", d)
	edit := func(t *testing.T, s, old, repl string) string {
		t.Helper()
		require.Contains(t, s, old)
		return strings.Replace(s, old, repl, 1)
	}
	cases := []struct {
		name     string
		lds, cds func(t *testing.T) string
		want     []string
	}{
		{"lds not yaml", func(*testing.T) string { return "resources: [" }, nil, []string{"lds:"}},
		{"lds empty file", func(*testing.T) string { return " \n" }, nil, []string{"lds:", "empty"}},
		{"lds resources not a list", func(*testing.T) string { return "resources: 3" }, nil, []string{"lds:", "resources"}},
		{"lds wrong type", func(t *testing.T) string { return edit(t, lds, "listener.v3.Listener", "listener.v3.Nope") }, nil,
			[]string{"lds: resources[0].@type"}},
		{"lds missing port", func(t *testing.T) string { return edit(t, lds, "port_value: 6443", "") }, nil,
			[]string{"lds: resources[0].address.socket_address.port_value: missing"}},
		{"lds port out of range", func(t *testing.T) string { return edit(t, lds, "port_value: 6443", "port_value: 70000") }, nil,
			[]string{"lds: resources[0].address.socket_address.port_value", "70000"}},
		{"lds port not a number", func(t *testing.T) string { return edit(t, lds, "port_value: 6443", "port_value: https") }, nil,
			[]string{"lds: resources[0].address.socket_address.port_value", "https"}},
		{"lds missing address", func(t *testing.T) string { return edit(t, lds, `address: "0.0.0.0"`, "") }, nil,
			[]string{"lds: resources[0].address.socket_address.address: missing"}},
		{"lds no cluster", func(t *testing.T) string { return edit(t, lds, "cluster: kube_apiservers", "") }, nil,
			[]string{"lds: resources[0].filter_chains[0].filters[0].typed_config.cluster: missing"}},
		{"lds http filter", func(t *testing.T) string {
			return edit(t, lds, "tcp_proxy.v3.TcpProxy", "http_connection_manager.v3.HttpConnectionManager")
		}, nil, []string{"lds: resources[0].filter_chains[0].filters[0].typed_config.@type"}},
		{"lds two listeners", func(t *testing.T) string { return lds + strings.TrimPrefix(lds, "\nresources:") }, nil,
			[]string{"lds: resources:", "2 listeners"}},

		{"cds not yaml", nil, func(*testing.T) string { return "resources: {" }, []string{"cds:"}},
		{"cds wrong type", nil, func(t *testing.T) string { return edit(t, cds, "cluster.v3.Cluster", "cluster.v3.Nope") },
			[]string{"cds: resources[0].@type"}},
		{"cds connect_timeout", nil, func(t *testing.T) string { return edit(t, cds, "connect_timeout: 0.25s", "connect_timeout: 0.25") },
			[]string{"cds: resources[0].connect_timeout", "0.25"}},
		{"cds discovery type", nil, func(t *testing.T) string { return edit(t, cds, "type: STRICT_DNS", "type: EDS") },
			[]string{"cds: resources[0].type: EDS"}},
		{"cds lb policy", nil, func(t *testing.T) string { return edit(t, cds, "lb_policy: ROUND_ROBIN", "lb_policy: MAGLEV") },
			[]string{"cds: resources[0].lb_policy: MAGLEV"}},
		{"cds health timeout missing", nil, func(t *testing.T) string { return edit(t, cds, "- timeout: 3s", "- initial_jitter: 0s") },
			[]string{"cds: resources[0].health_checks[0].timeout: missing"}},
		{"cds health interval bad", nil, func(t *testing.T) string { return edit(t, cds, "interval: 2s", "interval: soon") },
			[]string{"cds: resources[0].health_checks[0].interval", "soon"}},
		{"cds healthy threshold zero", nil, func(t *testing.T) string { return edit(t, cds, "healthy_threshold: 1", "healthy_threshold: 0") },
			[]string{"cds: resources[0].health_checks[0].healthy_threshold: must be at least 1"}},
		{"cds unhealthy threshold missing", nil, func(t *testing.T) string { return edit(t, cds, "unhealthy_threshold: 2", "") },
			[]string{"cds: resources[0].health_checks[0].unhealthy_threshold: missing"}},
		{"cds health path missing", nil, func(t *testing.T) string { return edit(t, cds, "path: /healthz", "path: \"\"") },
			[]string{"cds: resources[0].health_checks[0].http_health_check.path: missing"}},
		{"cds endpoint port", nil, func(t *testing.T) string {
			return edit(t, cds, "address: kind-control-plane2\n              port_value: 6443", "address: kind-control-plane2\n              port_value: -1")
		}, []string{"cds: resources[0].load_assignment.endpoints[0].lb_endpoints[1].endpoint.address.socket_address.port_value"}},
		{"cds endpoint without address", nil, func(t *testing.T) string { return edit(t, cds, "address: kind-control-plane3\n", "") },
			[]string{"cds: resources[0].load_assignment.endpoints[0].lb_endpoints[2].endpoint.address.socket_address.address: missing"}},
		{"cds tls to endpoints", nil, func(t *testing.T) string {
			return edit(t, cds, "  load_assignment:", "  transport_socket:\n    name: envoy.transport_sockets.tls\n  load_assignment:")
		}, []string{"cds: resources[0].transport_socket"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, c := lds, cds
			if tc.lds != nil {
				l = tc.lds(t)
			}
			if tc.cds != nil {
				c = tc.cds(t)
			}
			_, err := ParseFiles([]byte(l), []byte(c))
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParseBootstrap(t *testing.T) {
	good := renderBootstrap(t, "kind", "kind-external-load-balancer", "/home/envoy/cds.yaml", "/home/envoy/lds.yaml")
	b, err := parseBootstrap("/home/envoy/envoy.yaml", []byte(good))
	require.NoError(t, err)
	assert.Equal(t, bootstrap{nodeCluster: "kind", nodeID: "kind-external-load-balancer",
		cdsPath: "/home/envoy/cds.yaml", ldsPath: "/home/envoy/lds.yaml"}, b)

	noLDS := strings.Replace(good, "      path: /home/envoy/lds.yaml", "", 1)
	_, err = parseBootstrap("/x/envoy.yaml", []byte(noLDS))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/x/envoy.yaml")
	assert.Contains(t, err.Error(), "dynamic_resources.lds_config.path_config_source.path")

	_, err = parseBootstrap("/x/envoy.yaml", []byte("node: {cluster: kind}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "dynamic_resources.cds_config.path_config_source.path")

	_, err = parseBootstrap("/x/envoy.yaml", []byte("node: [\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/x/envoy.yaml")
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-c", "/home/envoy/envoy.yaml"}, "/home/envoy/envoy.yaml"},
		{[]string{"--config-path", "/a.yaml"}, "/a.yaml"},
		{[]string{"--config-path=/b.yaml"}, "/b.yaml"},
		{[]string{"-l", "info", "--base-id", "3", "-c", "/c.yaml", "--concurrency", "2", "--log-level=debug", "--disable-hot-restart"}, "/c.yaml"},
	} {
		o, err := parseArgs(tc.args)
		require.NoError(t, err, tc.args)
		assert.Equal(t, tc.want, o.configPath, tc.args)
	}
	for _, args := range [][]string{nil, {"-l", "info"}, {"-c"}, {"/usr/local/bin/envoy", "-c", "/a.yaml"}} {
		_, err := parseArgs(args)
		assert.Error(t, err, args)
	}
	o, err := parseArgs([]string{"--version"})
	require.NoError(t, err)
	assert.True(t, o.version)
}

// TestTemplatesMatchKind checks that testdata still holds the templates of
// the kind version go.mod names.
func TestTemplatesMatchKind(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^\s*sigs\.k8s\.io/kind (v\S+)`).FindSubmatch(mod)
	require.NotNil(t, m, "go.mod names no sigs.k8s.io/kind version")
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("go env GOMODCACHE: %v", err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "sigs.k8s.io", "kind@"+string(m[1]),
		"pkg", "cluster", "internal", "loadbalancer", "config.go")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("kind source not in the module cache: %v", err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), src, nil, 0)
	require.NoError(t, err)
	consts := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && len(vs.Names) == 1 && len(vs.Values) == 1 {
			if lit, ok := vs.Values[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				v, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				consts[vs.Names[0].Name] = v
			}
		}
		return true
	})
	for name, file := range map[string]string{
		"DynamicFilesystemConfigTemplate": "bootstrap.yaml.tmpl",
		"ProxyLDSConfigTemplate":          "lds.yaml.tmpl",
		"ProxyCDSConfigTemplate":          "cds.yaml.tmpl",
	} {
		ours, err := os.ReadFile(filepath.Join("testdata", file))
		require.NoError(t, err)
		assert.Equal(t, consts[name], string(ours), "testdata/%s differs from kind's %s in %s", file, name, src)
	}
	assert.Equal(t, "/home/envoy/cds.yaml", consts["ProxyConfigPathCDS"])
	assert.Equal(t, "/home/envoy/lds.yaml", consts["ProxyConfigPathLDS"])
}
