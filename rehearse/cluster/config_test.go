package cluster

import (
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

func baseSpec() Spec {
	return Spec{Name: "drill", Kubernetes: "v1.35.4", ControlPlanes: 1, Workers: 2, CNI: CNIFlannel}
}

func TestKindConfig(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Spec)
		facts   HostFacts
		wantErr string
		check   func(t *testing.T, c *v1alpha4.Cluster)
	}{
		{
			name:  "defaults on cgroup v1",
			facts: HostFacts{CgroupV1: true},
			check: func(t *testing.T, c *v1alpha4.Cluster) {
				if len(c.Nodes) != 3 || c.Nodes[0].Role != v1alpha4.ControlPlaneRole || c.Nodes[2].Role != v1alpha4.WorkerRole {
					t.Errorf("nodes %+v", c.Nodes)
				}
				for _, n := range c.Nodes {
					if n.Image != "localhost/rehearse/node:v1.35.4" {
						t.Errorf("image %q", n.Image)
					}
				}
				if len(c.KubeadmConfigPatches) != 1 || !strings.Contains(c.KubeadmConfigPatches[0], "failCgroupV1: false") ||
					!strings.Contains(c.KubeadmConfigPatches[0], "kind: KubeletConfiguration") ||
					!strings.Contains(c.KubeadmConfigPatches[0], "containerLogMaxSize: 100Mi") {
					t.Errorf("patches %q", c.KubeadmConfigPatches)
				}
				if !c.Networking.DisableDefaultCNI {
					t.Errorf("flannel needs the default CNI disabled")
				}
				if c.Name != "drill" || c.APIVersion != "kind.x-k8s.io/v1alpha4" {
					t.Errorf("name %q apiVersion %q", c.Name, c.APIVersion)
				}
			},
		},
		{
			name: "cgroup v2: only the log rotation size",
			check: func(t *testing.T, c *v1alpha4.Cluster) {
				if len(c.KubeadmConfigPatches) != 1 || strings.Contains(c.KubeadmConfigPatches[0], "failCgroupV1") ||
					!strings.Contains(c.KubeadmConfigPatches[0], "containerLogMaxSize: 100Mi") {
					t.Errorf("patches %q", c.KubeadmConfigPatches)
				}
			},
		},
		{
			name: "kindnet keeps the default CNI",
			edit: func(s *Spec) { s.CNI = CNIKindnet },
			check: func(t *testing.T, c *v1alpha4.Cluster) {
				if c.Networking.DisableDefaultCNI {
					t.Errorf("kindnet is kind's default CNI")
				}
			},
		},
		{
			name: "no CNI",
			edit: func(s *Spec) { s.CNI = CNINone },
			check: func(t *testing.T, c *v1alpha4.Cluster) {
				if !c.Networking.DisableDefaultCNI {
					t.Errorf("none must disable the default CNI")
				}
			},
		},
		{name: "unknown CNI", edit: func(s *Spec) { s.CNI = "cilium" }, wantErr: `unknown CNI "cilium"; known: calico, flannel, kindnet, none`},
		{
			name: "subnets",
			edit: func(s *Spec) { s.PodSubnet, s.ServiceSubnet = "10.200.0.0/16", "10.100.0.0/16" },
			check: func(t *testing.T, c *v1alpha4.Cluster) {
				if c.Networking.PodSubnet != "10.200.0.0/16" || c.Networking.ServiceSubnet != "10.100.0.0/16" {
					t.Errorf("networking %+v", c.Networking)
				}
			},
		},
		{name: "bad pod subnet", edit: func(s *Spec) { s.PodSubnet = "10.200.0.0" }, wantErr: "not a CIDR"},
		{name: "overlapping subnets", edit: func(s *Spec) { s.PodSubnet, s.ServiceSubnet = "10.0.0.0/8", "10.96.0.0/16" }, wantErr: "overlap"},
		{
			name: "nftables",
			edit: func(s *Spec) { s.KubeProxyMode = "nftables" },
			check: func(t *testing.T, c *v1alpha4.Cluster) {
				if c.Networking.KubeProxyMode != v1alpha4.NFTablesProxyMode {
					t.Errorf("mode %q", c.Networking.KubeProxyMode)
				}
			},
		},
		{
			name: "iptables",
			edit: func(s *Spec) { s.KubeProxyMode = "iptables" },
			check: func(t *testing.T, c *v1alpha4.Cluster) {
				if c.Networking.KubeProxyMode != v1alpha4.IPTablesProxyMode {
					t.Errorf("mode %q", c.Networking.KubeProxyMode)
				}
			},
		},
		{name: "ipvs without IP_VS", edit: func(s *Spec) { s.KubeProxyMode = "ipvs" }, wantErr: "needs IP_VS"},
		{
			name:  "ipvs with IP_VS",
			edit:  func(s *Spec) { s.KubeProxyMode = "ipvs" },
			facts: HostFacts{IPVS: true},
			check: func(t *testing.T, c *v1alpha4.Cluster) {
				if c.Networking.KubeProxyMode != v1alpha4.IPVSProxyMode {
					t.Errorf("mode %q", c.Networking.KubeProxyMode)
				}
			},
		},
		{name: "unknown proxy mode", edit: func(s *Spec) { s.KubeProxyMode = "userspace" }, wantErr: "unknown kube-proxy mode"},
		{
			name: "explicit image",
			edit: func(s *Spec) { s.Image, s.Kubernetes = "example.test/node:x", "" },
			check: func(t *testing.T, c *v1alpha4.Cluster) {
				if c.Nodes[0].Image != "example.test/node:x" {
					t.Errorf("image %q", c.Nodes[0].Image)
				}
			},
		},
		{name: "bad version", edit: func(s *Spec) { s.Kubernetes = "1.35" }, wantErr: "want vMAJOR.MINOR.PATCH"},
		{name: "bad name", edit: func(s *Spec) { s.Name = "Drill_1" }, wantErr: "cluster name"},
		{name: "no control plane", edit: func(s *Spec) { s.ControlPlanes = 0 }, wantErr: "at least 1"},
		{
			name: "three control planes, no workers",
			edit: func(s *Spec) { s.ControlPlanes, s.Workers = 3, 0 },
			check: func(t *testing.T, c *v1alpha4.Cluster) {
				if len(c.Nodes) != 3 || c.Nodes[2].Role != v1alpha4.ControlPlaneRole {
					t.Errorf("nodes %+v", c.Nodes)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec()
			if tc.edit != nil {
				tc.edit(&s)
			}
			c, err := KindConfig(s, tc.facts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestFlannelForSubnet(t *testing.T) {
	manifest := "net-conf.json: |\n    {\n      \"Network\": \"10.244.0.0/16\",\n      \"Backend\": {\"Type\": \"vxlan\"}\n    }\n"
	tests := []struct {
		name, subnet, want, wantErr string
		manifest                    string
	}{
		{name: "default", subnet: "", want: `"Network": "10.244.0.0/16"`, manifest: manifest},
		{name: "custom", subnet: "10.200.0.0/16", want: `"Network": "10.200.0.0/16"`, manifest: manifest},
		{name: "no network to replace", subnet: "10.200.0.0/16", manifest: "kind: DaemonSet\n", wantErr: "no \"Network\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := flannelForSubnet(tc.manifest, tc.subnet)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(got, tc.want) {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
