package lb

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Resource types the LDS and CDS files carry.
const (
	listenerType  = "type.googleapis.com/envoy.config.listener.v3.Listener"
	clusterType   = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	tcpProxyType  = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
	tcpProxyName  = "envoy.filters.network.tcp_proxy"
	tlsSocketType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
	tlsSocketName = "envoy.transport_sockets.tls"
)

// defaultConnectTimeout is Envoy's connect_timeout when a cluster sets none.
const defaultConnectTimeout = 5 * time.Second

// Config is what the balancer serves: one listener and the endpoints of the
// cluster its tcp_proxy forwards to. With HealthPath set, zero health
// durations and thresholds take the values kind writes (interval 2s, timeout
// 3s, unhealthy 2, healthy 1); a zero ConnectTimeout is Envoy's default, 5s.
type Config struct {
	// Listen is the listener's host:port; empty means no listener.
	Listen string
	// Cluster names the cluster the listener forwards to; informational.
	Cluster string
	// Backends are the cluster's endpoints as host:port. Hostnames are
	// resolved each time a connection is made (STRICT_DNS).
	Backends []string
	// ConnectTimeout bounds each dial to a backend.
	ConnectTimeout time.Duration
	// HealthInterval is the time between the end of one health check of a
	// backend and the start of the next; HealthTimeout bounds one check.
	HealthInterval, HealthTimeout time.Duration
	// Unhealthy is the number of consecutive failed checks that make a
	// healthy backend unhealthy; Healthy the number of consecutive
	// successful checks that make it healthy again.
	Unhealthy, Healthy int
	// HealthPath is the path of the HTTP GET health check. Empty means no
	// health checking: every backend counts as healthy.
	HealthPath string
	// HealthTLS makes the health check use HTTPS, without verifying the
	// backend's certificate.
	HealthTLS bool
}

// ParseFiles reads the content of an LDS and a CDS file as kind writes them
// (a `resources:` list of Envoy v3 Listener and Cluster resources) into a
// Config. An LDS file without resources gives a Config without a listener; a
// CDS file without the cluster the listener names gives one without
// backends. Errors name the file role (lds or cds) and the offending field.
func ParseFiles(lds, cds []byte) (Config, error) {
	var cfg Config
	clusterName, err := parseLDS(lds, &cfg)
	if err != nil {
		return Config{}, fmt.Errorf("lds: %w", err)
	}
	clusters, err := parseCDS(cds)
	if err != nil {
		return Config{}, fmt.Errorf("cds: %w", err)
	}
	var chosen *clusterSpec
	switch {
	case clusterName != "":
		for i := range clusters {
			if clusters[i].name == clusterName {
				chosen = &clusters[i]
				break
			}
		}
	case len(clusters) == 1:
		chosen = &clusters[0]
	}
	cfg.Cluster = clusterName
	cfg.ConnectTimeout = defaultConnectTimeout
	if chosen != nil {
		cfg.Cluster = chosen.name
		cfg.Backends = chosen.backends
		cfg.ConnectTimeout = chosen.connectTimeout
		cfg.HealthPath = chosen.healthPath
		cfg.HealthTLS = chosen.healthTLS
		cfg.HealthInterval = chosen.healthInterval
		cfg.HealthTimeout = chosen.healthTimeout
		cfg.Unhealthy = chosen.unhealthy
		cfg.Healthy = chosen.healthy
	}
	return cfg, nil
}

// typedConfig is the part of an Any-typed config the stand-in looks at.
type typedConfig struct {
	Type             string `json:"@type"`
	Cluster          string `json:"cluster"`
	WeightedClusters any    `json:"weighted_clusters"`
	CommonTLSContext struct {
		ValidationContext struct {
			TrustChainVerification string `json:"trust_chain_verification"`
		} `json:"validation_context"`
	} `json:"common_tls_context"`
}

type socketAddress struct {
	Address   string `json:"address"`
	PortValue any    `json:"port_value"`
	NamedPort string `json:"named_port"`
}

type address struct {
	SocketAddress *socketAddress `json:"socket_address"`
}

type ldsListener struct {
	Type         string  `json:"@type"`
	Name         string  `json:"name"`
	Address      address `json:"address"`
	FilterChains []struct {
		Filters []struct {
			Name        string      `json:"name"`
			TypedConfig typedConfig `json:"typed_config"`
		} `json:"filters"`
	} `json:"filter_chains"`
}

type transportSocket struct {
	Name        string      `json:"name"`
	TypedConfig typedConfig `json:"typed_config"`
}

type cdsCluster struct {
	Type           string `json:"@type"`
	Name           string `json:"name"`
	ConnectTimeout any    `json:"connect_timeout"`
	DiscoveryType  string `json:"type"`
	LBPolicy       string `json:"lb_policy"`
	HealthChecks   []struct {
		Timeout            any `json:"timeout"`
		Interval           any `json:"interval"`
		UnhealthyThreshold any `json:"unhealthy_threshold"`
		HealthyThreshold   any `json:"healthy_threshold"`
		HTTPHealthCheck    *struct {
			Path string `json:"path"`
		} `json:"http_health_check"`
		TCPHealthCheck               any            `json:"tcp_health_check"`
		GRPCHealthCheck              any            `json:"grpc_health_check"`
		TransportSocketMatchCriteria map[string]any `json:"transport_socket_match_criteria"`
	} `json:"health_checks"`
	TransportSocket        *transportSocket `json:"transport_socket"`
	TransportSocketMatches []struct {
		Name            string          `json:"name"`
		Match           map[string]any  `json:"match"`
		TransportSocket transportSocket `json:"transport_socket"`
	} `json:"transport_socket_matches"`
	LoadAssignment struct {
		Endpoints []struct {
			LBEndpoints []struct {
				Endpoint struct {
					Address address `json:"address"`
				} `json:"endpoint"`
			} `json:"lb_endpoints"`
		} `json:"endpoints"`
	} `json:"load_assignment"`
}

// clusterSpec is one validated CDS cluster.
type clusterSpec struct {
	name                          string
	backends                      []string
	connectTimeout                time.Duration
	healthPath                    string
	healthTLS                     bool
	healthInterval, healthTimeout time.Duration
	unhealthy, healthy            int
}

// decodeResources unmarshals a `resources:` document into out, refusing an
// empty file: kind always writes at least `resources: []`, so an empty file
// is a half-written one.
func decodeResources(data []byte, out any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("file is empty (expected at least `resources: []`)")
	}
	return yaml.Unmarshal(data, out)
}

// parseLDS fills cfg.Listen and returns the cluster the listener forwards to.
func parseLDS(data []byte, cfg *Config) (string, error) {
	var doc struct {
		Resources []ldsListener `json:"resources"`
	}
	if err := decodeResources(data, &doc); err != nil {
		return "", err
	}
	switch len(doc.Resources) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", fmt.Errorf("resources: %d listeners, the stand-in serves exactly one", len(doc.Resources))
	}
	l := doc.Resources[0]
	f := "resources[0]"
	if l.Type != listenerType {
		return "", fmt.Errorf("%s.@type: %q, want %q", f, l.Type, listenerType)
	}
	listen, err := hostPort(f+".address", l.Address, 0)
	if err != nil {
		return "", err
	}
	if len(l.FilterChains) != 1 {
		return "", fmt.Errorf("%s.filter_chains: %d chains, the stand-in serves exactly one", f, len(l.FilterChains))
	}
	filters := l.FilterChains[0].Filters
	if len(filters) != 1 {
		return "", fmt.Errorf("%s.filter_chains[0].filters: %d filters, the stand-in serves exactly one tcp_proxy", f, len(filters))
	}
	tp := filters[0]
	f += ".filter_chains[0].filters[0]"
	if tp.TypedConfig.Type != tcpProxyType && !(tp.TypedConfig.Type == "" && tp.Name == tcpProxyName) {
		return "", fmt.Errorf("%s.typed_config.@type: %q, the stand-in only serves %q", f, tp.TypedConfig.Type, tcpProxyType)
	}
	if tp.TypedConfig.WeightedClusters != nil {
		return "", fmt.Errorf("%s.typed_config.weighted_clusters: not supported, name one cluster", f)
	}
	if tp.TypedConfig.Cluster == "" {
		return "", fmt.Errorf("%s.typed_config.cluster: missing", f)
	}
	cfg.Listen = listen
	return tp.TypedConfig.Cluster, nil
}

func parseCDS(data []byte) ([]clusterSpec, error) {
	var doc struct {
		Resources []cdsCluster `json:"resources"`
	}
	if err := decodeResources(data, &doc); err != nil {
		return nil, err
	}
	specs := make([]clusterSpec, 0, len(doc.Resources))
	for i, c := range doc.Resources {
		s, err := clusterOf(fmt.Sprintf("resources[%d]", i), c)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return specs, nil
}

func clusterOf(f string, c cdsCluster) (clusterSpec, error) {
	var s clusterSpec
	if c.Type != clusterType {
		return s, fmt.Errorf("%s.@type: %q, want %q", f, c.Type, clusterType)
	}
	if c.Name == "" {
		return s, fmt.Errorf("%s.name: missing", f)
	}
	s.name = c.Name
	switch c.DiscoveryType {
	case "", "STATIC", "STRICT_DNS", "LOGICAL_DNS":
	default:
		return s, fmt.Errorf("%s.type: %s not supported (STATIC, STRICT_DNS or LOGICAL_DNS)", f, c.DiscoveryType)
	}
	switch c.LBPolicy {
	case "", "ROUND_ROBIN":
	default:
		return s, fmt.Errorf("%s.lb_policy: %s not supported (ROUND_ROBIN only)", f, c.LBPolicy)
	}
	s.connectTimeout = defaultConnectTimeout
	if c.ConnectTimeout != nil {
		d, err := duration(f+".connect_timeout", c.ConnectTimeout)
		if err != nil {
			return s, err
		}
		s.connectTimeout = d
	}
	if c.TransportSocket != nil && isTLS(*c.TransportSocket) {
		return s, fmt.Errorf("%s.transport_socket: TLS towards the endpoints is not supported, the stand-in is a TCP proxy", f)
	}

	switch len(c.HealthChecks) {
	case 0:
	case 1:
		hc := c.HealthChecks[0]
		hf := f + ".health_checks[0]"
		if hc.HTTPHealthCheck == nil {
			if hc.TCPHealthCheck != nil || hc.GRPCHealthCheck != nil {
				return s, fmt.Errorf("%s: only http_health_check is supported", hf)
			}
			return s, fmt.Errorf("%s.http_health_check: missing", hf)
		}
		if hc.HTTPHealthCheck.Path == "" {
			return s, fmt.Errorf("%s.http_health_check.path: missing", hf)
		}
		s.healthPath = hc.HTTPHealthCheck.Path
		var err error
		if s.healthTimeout, err = positiveDuration(hf+".timeout", hc.Timeout); err != nil {
			return s, err
		}
		if s.healthInterval, err = positiveDuration(hf+".interval", hc.Interval); err != nil {
			return s, err
		}
		if s.unhealthy, err = threshold(hf+".unhealthy_threshold", hc.UnhealthyThreshold); err != nil {
			return s, err
		}
		if s.healthy, err = threshold(hf+".healthy_threshold", hc.HealthyThreshold); err != nil {
			return s, err
		}
		s.healthTLS = c.TransportSocket != nil && isTLS(*c.TransportSocket)
		if hc.TransportSocketMatchCriteria != nil {
			// The first transport_socket_matches entry whose match fields
			// all appear in the criteria decides; without one, the
			// cluster's own transport socket does.
			for _, m := range c.TransportSocketMatches {
				if matches(m.Match, hc.TransportSocketMatchCriteria) {
					s.healthTLS = isTLS(m.TransportSocket)
					break
				}
			}
		}
	default:
		return s, fmt.Errorf("%s.health_checks: %d checks, the stand-in supports one", f, len(c.HealthChecks))
	}

	for i, e := range c.LoadAssignment.Endpoints {
		for j, lbe := range e.LBEndpoints {
			ef := fmt.Sprintf("%s.load_assignment.endpoints[%d].lb_endpoints[%d].endpoint.address", f, i, j)
			hp, err := hostPort(ef, lbe.Endpoint.Address, 1)
			if err != nil {
				return s, err
			}
			s.backends = append(s.backends, hp)
		}
	}
	return s, nil
}

// hostPort validates a socket address and joins it to host:port; the port
// must be at least minPort.
func hostPort(f string, a address, minPort uint64) (string, error) {
	sa := a.SocketAddress
	if sa == nil {
		return "", fmt.Errorf("%s.socket_address: missing", f)
	}
	f += ".socket_address"
	if sa.Address == "" {
		return "", fmt.Errorf("%s.address: missing", f)
	}
	if sa.NamedPort != "" {
		return "", fmt.Errorf("%s.named_port: not supported, use port_value", f)
	}
	if sa.PortValue == nil {
		return "", fmt.Errorf("%s.port_value: missing", f)
	}
	port, err := uintValue(f+".port_value", sa.PortValue)
	if err != nil {
		return "", err
	}
	if port < minPort || port > 65535 {
		return "", fmt.Errorf("%s.port_value: %d is not a port", f, port)
	}
	return net.JoinHostPort(sa.Address, strconv.FormatUint(port, 10)), nil
}

// uintValue reads a protobuf uint32 as YAML gives it: a number, or a string
// holding one (protobuf JSON allows both).
func uintValue(f string, v any) (uint64, error) {
	switch x := v.(type) {
	case float64:
		if x < 0 || x != math.Trunc(x) || x > math.MaxUint32 {
			return 0, fmt.Errorf("%s: %v is not an unsigned integer", f, x)
		}
		return uint64(x), nil
	case string:
		n, err := strconv.ParseUint(x, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not an unsigned integer", f, x)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("%s: %v is not an unsigned integer", f, v)
	}
}

func threshold(f string, v any) (int, error) {
	if v == nil {
		return 0, fmt.Errorf("%s: missing", f)
	}
	n, err := uintValue(f, v)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, fmt.Errorf("%s: must be at least 1", f)
	}
	return int(n), nil
}

// duration reads a protobuf Duration in its JSON form: decimal seconds with
// an "s" suffix, such as "0.25s" or "3s".
func duration(f string, v any) (time.Duration, error) {
	str, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("%s: %v is not a duration such as \"0.25s\"", f, v)
	}
	secs, found := strings.CutSuffix(str, "s")
	n, err := strconv.ParseFloat(secs, 64)
	if !found || err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) || n > 315576000000 {
		return 0, fmt.Errorf("%s: %q is not a duration such as \"0.25s\"", f, str)
	}
	return time.Duration(math.Round(n * float64(time.Second))), nil
}

func positiveDuration(f string, v any) (time.Duration, error) {
	if v == nil {
		return 0, fmt.Errorf("%s: missing", f)
	}
	d, err := duration(f, v)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s: must be greater than zero", f)
	}
	return d, nil
}

func isTLS(ts transportSocket) bool {
	return ts.Name == tlsSocketName || ts.TypedConfig.Type == tlsSocketType
}

// matches reports whether every field of match has the same value in criteria.
func matches(match, criteria map[string]any) bool {
	for k, v := range match {
		c, ok := criteria[k]
		if !ok || fmt.Sprint(c) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

// bootstrap is what the stand-in takes from Envoy's bootstrap file.
type bootstrap struct {
	nodeCluster, nodeID string
	cdsPath, ldsPath    string
}

// parseBootstrap reads a bootstrap as kind writes it: the node, and the
// files CDS and LDS resources come from. Errors name the file and the field.
func parseBootstrap(path string, data []byte) (bootstrap, error) {
	type source struct {
		PathConfigSource *struct {
			Path string `json:"path"`
		} `json:"path_config_source"`
		// Path is the deprecated form of path_config_source.path.
		Path string `json:"path"`
	}
	var doc struct {
		Node struct {
			Cluster string `json:"cluster"`
			ID      string `json:"id"`
		} `json:"node"`
		DynamicResources struct {
			CDSConfig source `json:"cds_config"`
			LDSConfig source `json:"lds_config"`
		} `json:"dynamic_resources"`
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return bootstrap{}, fmt.Errorf("bootstrap %s: file is empty", path)
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return bootstrap{}, fmt.Errorf("bootstrap %s: %w", path, err)
	}
	pathOf := func(role string, s source) (string, error) {
		if s.PathConfigSource != nil && s.PathConfigSource.Path != "" {
			return s.PathConfigSource.Path, nil
		}
		if s.Path != "" {
			return s.Path, nil
		}
		return "", fmt.Errorf("bootstrap %s: dynamic_resources.%s_config.path_config_source.path: missing (the stand-in reads %s from a file)", path, role, strings.ToUpper(role))
	}
	b := bootstrap{nodeCluster: doc.Node.Cluster, nodeID: doc.Node.ID}
	var err error
	if b.cdsPath, err = pathOf("cds", doc.DynamicResources.CDSConfig); err != nil {
		return bootstrap{}, err
	}
	if b.ldsPath, err = pathOf("lds", doc.DynamicResources.LDSConfig); err != nil {
		return bootstrap{}, err
	}
	return b, nil
}
