package scenarios

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGeneratorsDefaults(t *testing.T) {
	s, err := Parse("t.yaml", []byte(base+"load:\n  generators:\n    mode: in-cluster\n"))
	require.NoError(t, err)
	g := s.Load.Generators
	assert.True(t, g.InCluster())
	assert.Equal(t, DefaultGeneratorReplicas, g.Replicas)
	assert.Equal(t, DefaultGeneratorNamespace, g.Namespace)
	assert.Equal(t, ViaService, g.Via)
	assert.Equal(t, "500m", g.CPU)
	assert.InDelta(t, DefaultMaxShortfall, g.Shortfall(), 0)

	local, err := Parse("t.yaml", []byte(base))
	require.NoError(t, err)
	assert.Equal(t, GeneratorsLocal, local.Load.Generators.Mode)
	assert.False(t, local.Load.Generators.InCluster())

	in, err := Parse("t.yaml", []byte(base+"load:\n  generators:\n    mode: in-cluster\n    via: ingress\n    ingress:\n      controller: traefik/traefik\n"))
	require.NoError(t, err)
	require.NotNil(t, in.Load.Generators.Ingress)
	assert.Equal(t, DefaultIngressHost, in.Load.Generators.Ingress.Host)
	ns, name := in.Load.Generators.Ingress.ControllerService()
	assert.Equal(t, []string{"traefik", "traefik"}, []string{ns, name})

	ex, err := Load("examples/in-cluster-load.yaml")
	require.NoError(t, err)
	assert.Equal(t, 3, ex.Load.Generators.Replicas)
	assert.InDelta(t, 300.0, ex.Load.Rate, 0)
}

// Each bad generators setting and the exact error it gets, at its file,
// line and field.
func TestMalformedGenerators(t *testing.T) {
	gen := func(lines string) string { return base + "load:\n  generators:\n    mode: in-cluster\n" + lines }
	tests := []struct{ name, doc, want string }{
		{"unknown mode", base + "load:\n  generators:\n    mode: remote\n", `t.yaml:7: load.generators.mode: unknown mode "remote"; known: local, in-cluster`},
		{"too few per generator", base + "load:\n  rate: 10\n  generators:\n    mode: in-cluster\n    replicas: 8\n", `t.yaml:9: load.generators.replicas: 8 generators at load.rate 10 over 2 probe kinds send below 1/s each`},
		{"bad namespace", gen("    namespace: Load_Gen\n"), `t.yaml:8: load.generators.namespace: "Load_Gen"`},
		{"bad cpu", gen("    cpu: lots\n"), `t.yaml:8: load.generators.cpu: "lots": want a positive CPU quantity`},
		{"bad via", gen("    via: gateway\n"), `t.yaml:8: load.generators.via: unknown way "gateway" to reach the canary; known: service, nodePorts, pods, ingress`},
		{"ingress without controller", gen("    via: ingress\n"), `t.yaml:8: load.generators.via: ingress needs load.generators.ingress.controller, the ingress controller's Service as NAMESPACE/NAME`},
		{"controller without namespace", gen("    via: ingress\n    ingress:\n      controller: traefik\n"), `t.yaml:10: load.generators.ingress.controller: "traefik": want NAMESPACE/NAME`},
		{"bad controller name", gen("    via: ingress\n    ingress:\n      controller: traefik/Traefik\n"), `t.yaml:10: load.generators.ingress.controller: Service name "Traefik"`},
		{"bad ingress host", gen("    via: ingress\n    ingress:\n      controller: traefik/traefik\n      host: Canary_Host\n"), `t.yaml:11: load.generators.ingress.host: "Canary_Host"`},
		{"bad ingress port", gen("    via: ingress\n    ingress:\n      controller: traefik/traefik\n      port: 70000\n"), `t.yaml:11: load.generators.ingress.port: 70000: want a port from 1 to 65535`},
		{"ingress without via ingress", gen("    ingress:\n      controller: traefik/traefik\n"), `t.yaml:8: load.generators.ingress: only with load.generators.via: ingress (via is service)`},
		{"shortfall over 1", gen("    maxShortfall: 5\n"), `t.yaml:8: load.generators.maxShortfall: 5: want a fraction from 0 to 1`},
		{"toleration without key", gen("    tolerations: [{value: x}]\n"), `load.generators.tolerations[0].key: a toleration with operator Equal needs a key`},
		{"toleration bad effect", gen("    tolerations: [{key: k, operator: Exists, effect: Never}]\n"), `load.generators.tolerations[0].effect: "Never"`},
		{"with targets", gen("  targets:\n    - {name: shop, url: 'http://10.0.0.1:8080/'}\n"), `load.generators.mode: in-cluster generators send the canary's probes only`},
		{"blue-green", gen("upgrade:\n  driver: bluegreen\n"), `load.generators.mode: a blue-green swap moves the load to another cluster`},
		{"replace through node ports", gen("    via: nodePorts\n    nodeSelector: {node-role.kubernetes.io/control-plane: ''}\nupgrade:\n  driver: replace\n"), `t.yaml:8: load.generators.via: the generators' node ports are fixed when they start, and the replace driver removes the workers`},
		{"replace on workers", gen("upgrade:\n  driver: replace\n"), `load.generators.nodeSelector: the replace driver deletes every worker, and each generator is pinned to its node`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
