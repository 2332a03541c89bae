package scenarios

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Where the load comes from (load.generators.mode).
const (
	// GeneratorsLocal sends every request from the machine running rehearse.
	GeneratorsLocal = "local"
	// GeneratorsInCluster sends them from generator pods in the cluster.
	GeneratorsInCluster = "in-cluster"
)

// How in-cluster generators reach the canary (load.generators.via).
const (
	// ViaService is the canary Service's ClusterIP, as a client in the
	// cluster reaches it.
	ViaService = "service"
	// ViaNodePorts are the canary's node ports on every node, in rotation.
	ViaNodePorts = "nodePorts"
	// ViaPods are the canary pods' own addresses, found through a
	// headless Service's DNS name on every new connection, as a
	// client-side balancer (gRPC, a mesh-less client) finds them: past
	// kube-proxy, following the pods as the upgrade moves them.
	ViaPods = "pods"
	// ViaIngress is an Ingress rehearse makes for the canary, reached
	// through the ingress controller's Service with the Ingress's host
	// name, as the cluster's users reach their applications.
	ViaIngress = "ingress"
)

// DefaultIngressHost is the host name of the canary's Ingress when
// load.generators.ingress.host is not set.
const DefaultIngressHost = "canary.rehearse.test"

// Defaults of in-cluster generators.
const (
	DefaultGeneratorReplicas  = 3
	DefaultGeneratorNamespace = "rehearse-load"
	// DefaultMaxShortfall is how much of the planned load lost generators
	// may leave unsent before the verdict is inconclusive.
	DefaultMaxShortfall = 0.05
	DefaultGeneratorCPU = "500m"
)

// GeneratorModes lists the values of load.generators.mode.
func GeneratorModes() []string { return []string{GeneratorsLocal, GeneratorsInCluster} }

// GeneratorVias lists the values of load.generators.via.
func GeneratorVias() []string { return []string{ViaService, ViaNodePorts, ViaPods, ViaIngress} }

// Generators say where the load comes from. In-cluster generators are
// pods running `rehearse load` from the canary image, each a DaemonSet
// pinned to one node (a drain leaves DaemonSet pods, so the upgrade does
// not stop the load that measures it), each sending rate/replicas.
type Generators struct {
	// Mode is local (the default) or in-cluster.
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Replicas is how many generators (default 3), spread over the nodes
	// that qualify, workers first.
	Replicas int `yaml:"replicas,omitempty" json:"replicas,omitempty"`
	// Namespace holds the generators (default rehearse-load).
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	// NodeSelector and Tolerations choose the nodes generators may run on.
	NodeSelector map[string]string `yaml:"nodeSelector,omitempty" json:"nodeSelector,omitempty"`
	Tolerations  []Toleration      `yaml:"tolerations,omitempty" json:"tolerations,omitempty"`
	// Via is how they reach the canary: service (its ClusterIP, the
	// default), nodePorts, or pods (the pods' own addresses, through a
	// headless Service's DNS), or ingress (an Ingress for the canary,
	// through the ingress controller named in Ingress).
	Via string `yaml:"via,omitempty" json:"via,omitempty"`
	// Ingress says which ingress controller carries the load with via:
	// ingress.
	Ingress *GeneratorIngress `yaml:"ingress,omitempty" json:"ingress,omitempty"`
	// CPU is each generator's CPU request (default 500m): a generator
	// starved of CPU measures its own waiting as latency.
	CPU string `yaml:"cpu,omitempty" json:"cpu,omitempty"`
	// MaxShortfall is the fraction of the planned load that lost
	// generators may leave unsent before the verdict is inconclusive
	// (default 0.05).
	MaxShortfall *float64 `yaml:"maxShortfall,omitempty" json:"maxShortfall,omitempty"`
}

// GeneratorIngress is the canary's Ingress and the controller that serves
// it. The controller is the cluster's own (installed by the user, or
// through workloads); rehearse makes only the Ingress, and removes it
// with the canary.
type GeneratorIngress struct {
	// Controller is the ingress controller's Service, NAMESPACE/NAME: the
	// generators send to its ClusterIP.
	Controller string `yaml:"controller" json:"controller"`
	// Port is the Service's port to send to (default: its port named http,
	// else port 80, else its first).
	Port int `yaml:"port,omitempty" json:"port,omitempty"`
	// ClassName is the Ingress's ingressClassName (default: none, for the
	// cluster's default IngressClass).
	ClassName string `yaml:"className,omitempty" json:"className,omitempty"`
	// Host is the host name the Ingress routes to the canary, sent as the
	// Host header (default canary.rehearse.test).
	Host string `yaml:"host,omitempty" json:"host,omitempty"`
}

// ControllerService splits Controller into its namespace and name.
func (g GeneratorIngress) ControllerService() (namespace, name string) {
	namespace, name, _ = strings.Cut(g.Controller, "/")
	return namespace, name
}

// Toleration lets generators run on nodes with a matching taint.
type Toleration struct {
	Key string `yaml:"key,omitempty" json:"key,omitempty"`
	// Operator is Equal (the default) or Exists.
	Operator string `yaml:"operator,omitempty" json:"operator,omitempty"`
	Value    string `yaml:"value,omitempty" json:"value,omitempty"`
	// Effect is empty (every effect), NoSchedule, PreferNoSchedule or NoExecute.
	Effect string `yaml:"effect,omitempty" json:"effect,omitempty"`
}

// InCluster tells whether the load comes from generators in the cluster.
func (g Generators) InCluster() bool { return g.Mode == GeneratorsInCluster }

// Shortfall is MaxShortfall with its default.
func (g Generators) Shortfall() float64 {
	if g.MaxShortfall == nil {
		return DefaultMaxShortfall
	}
	return *g.MaxShortfall
}

func (s *Scenario) settleGenerators() {
	g := &s.Load.Generators
	if g.Mode == "" {
		g.Mode = GeneratorsLocal
	}
	if !g.InCluster() {
		return
	}
	if g.Replicas == 0 {
		g.Replicas = DefaultGeneratorReplicas
	}
	if g.Namespace == "" {
		g.Namespace = DefaultGeneratorNamespace
	}
	if g.Via == "" {
		g.Via = ViaService
	}
	if g.CPU == "" {
		g.CPU = DefaultGeneratorCPU
	}
	if g.Ingress != nil && g.Ingress.Host == "" {
		g.Ingress.Host = DefaultIngressHost
	}
}

func (s *Scenario) validateGenerators(add func(path, format string, args ...any)) {
	g := s.Load.Generators
	const f = "load.generators"
	if !slices.Contains(GeneratorModes(), g.Mode) {
		add(f+".mode", "unknown mode %q; known: %s", g.Mode, strings.Join(GeneratorModes(), ", "))
		return
	}
	if !g.InCluster() {
		return
	}
	if g.Replicas < 1 || g.Replicas > MaxNodes*4 {
		add(f+".replicas", "%d: want 1 to %d generators", g.Replicas, MaxNodes*4)
	} else if n := len(s.Load.Probes); n > 0 && s.Load.Rate/float64(g.Replicas*n) < 1 {
		add(f+".replicas", "%d generators at load.rate %v over %d probe kinds send below 1/s each", g.Replicas, s.Load.Rate, n)
	}
	if q, err := resource.ParseQuantity(g.CPU); err != nil || q.Sign() <= 0 {
		add(f+".cpu", "%q: want a positive CPU quantity, e.g. 500m or 1", g.CPU)
	}
	for _, msg := range validation.IsDNS1123Label(g.Namespace) {
		add(f+".namespace", "%q: %s", g.Namespace, msg)
	}
	if !slices.Contains(GeneratorVias(), g.Via) {
		add(f+".via", "unknown way %q to reach the canary; known: %s", g.Via, strings.Join(GeneratorVias(), ", "))
	}
	s.validateGeneratorIngress(add)
	if v := g.Shortfall(); !(v >= 0 && v <= 1) {
		add(f+".maxShortfall", "%v: want a fraction from 0 to 1 (0.05 is 5%%)", v)
	}
	for i, t := range g.Tolerations {
		p := fmt.Sprintf("%s.tolerations[%d]", f, i)
		switch t.Operator {
		case "", "Equal":
			if t.Key == "" {
				add(p+".key", "a toleration with operator Equal needs a key")
			}
		case "Exists":
			if t.Value != "" {
				add(p+".value", "operator Exists takes no value")
			}
		default:
			add(p+".operator", "%q: want Equal or Exists", t.Operator)
		}
		if t.Effect != "" && !slices.Contains(TaintEffects(), t.Effect) {
			add(p+".effect", "%q: want one of %s, or none for every effect", t.Effect, strings.Join(TaintEffects(), ", "))
		}
	}
	switch {
	case s.Canary.Disabled:
		add(f+".mode", "in-cluster generators send the canary's probes: the canary is disabled (canary.disabled)")
	case len(s.Load.Targets) > 0:
		add(f+".mode", "in-cluster generators send the canary's probes only; load.targets are sent from this machine, not mixed with them")
	case s.Ledger.Enabled:
		add(f+".mode", "the ledger's writes are sent from this machine: it cannot run with in-cluster generators")
	case s.Upgrade.Driver == DriverBlueGreen:
		add(f+".mode", "a blue-green swap moves the load to another cluster: generators in the first would measure the wrong one")
	case s.Upgrade.Driver == DriverReplace && g.Via == ViaNodePorts:
		add(f+".via", "the generators' node ports are fixed when they start, and the replace driver removes the workers: use service, pods or ingress")
	case s.Upgrade.Driver == DriverReplace && len(g.NodeSelector) == 0:
		add(f+".nodeSelector", "the replace driver deletes every worker, and each generator is pinned to its node: choose nodes that stay, e.g. {node-role.kubernetes.io/control-plane: \"\"}")
	}
}

func (s *Scenario) validateGeneratorIngress(add func(path, format string, args ...any)) {
	g := s.Load.Generators
	const f = "load.generators.ingress"
	if g.Via != ViaIngress {
		if g.Ingress != nil {
			add(f, "only with load.generators.via: %s (via is %s)", ViaIngress, g.Via)
		}
		return
	}
	in := g.Ingress
	if in == nil {
		add("load.generators.via", "%s needs load.generators.ingress.controller, the ingress controller's Service as NAMESPACE/NAME (e.g. traefik/traefik)", ViaIngress)
		return
	}
	if in.Controller == "" {
		add(f+".controller", "the ingress controller's Service is required, as NAMESPACE/NAME (e.g. traefik/traefik)")
		return
	}
	ns, name := in.ControllerService()
	if !strings.Contains(in.Controller, "/") {
		add(f+".controller", "%q: want NAMESPACE/NAME of the controller's Service", in.Controller)
	} else {
		for _, msg := range validation.IsDNS1123Label(ns) {
			add(f+".controller", "namespace %q: %s", ns, msg)
		}
		for _, msg := range validation.IsDNS1035Label(name) {
			add(f+".controller", "Service name %q: %s", name, msg)
		}
	}
	if in.Port < 0 || in.Port > 65535 {
		add(f+".port", "%d: want a port from 1 to 65535, or none for the Service's http port", in.Port)
	}
	if in.ClassName != "" {
		for _, msg := range validation.IsDNS1123Subdomain(in.ClassName) {
			add(f+".className", "%q: %s", in.ClassName, msg)
		}
	}
	for _, msg := range validation.IsDNS1123Subdomain(in.Host) {
		add(f+".host", "%q: %s", in.Host, msg)
	}
}
