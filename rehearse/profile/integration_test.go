package profile_test

// An external test package: the round trip runs the rehearse command line
// (rehearse/cli), which imports this package.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/cli"
	"github.com/rehearse/rehearse/rehearse/cluster"
	"github.com/rehearse/rehearse/rehearse/kube"
	"github.com/rehearse/rehearse/rehearse/profile"
	"github.com/rehearse/rehearse/scenarios"
)

// TestIntegrationProfileRoundTrip profiles a cluster made with non-default
// CIDRs and kube-proxy mode, through a ServiceAccount that may only get,
// list and watch, with `rehearse profile --out FILE` as a user runs it; loads
// the written scenario; creates a second cluster from it the way a
// rehearsal does (rehearse.Provisioners); and profiles that one too: the
// two shapes agree.
func TestIntegrationProfileRoundTrip(t *testing.T) {
	testenv.RequireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	p, err := cluster.NewProvider(ctx, cluster.Options{Progress: testWriter{t}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	suffix := time.Now().Format("150405")
	x := cluster.Spec{Name: "rh-prof-x-" + suffix, Kubernetes: scenarios.DefaultKubernetesVersion, ControlPlanes: 1, Workers: 1,
		CNI: "flannel", PodSubnet: "10.200.0.0/16", ServiceSubnet: "10.100.0.0/16", KubeProxyMode: "nftables"}
	cx, err := p.Create(ctx, x, cluster.CreateOptions{Throwaway: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Delete(context.WithoutCancel(ctx), x.Name) }()

	readOnlyKC := readOnlyKubeconfig(ctx, t, cx.Kubeconfig)
	px, audit := profileOf(ctx, t, readOnlyKC)
	for m := range audit.Methods() {
		if m != "GET" {
			t.Errorf("profiling used %s: only GET (get, list, watch) is allowed", m)
		}
	}
	if len(audit.Refused()) > 0 {
		t.Errorf("profiling tried to write: %v", audit.Refused())
	}
	want := map[string]string{"version": x.Kubernetes, "cni": "flannel", "pods": x.PodSubnet, "services": x.ServiceSubnet, "proxy": x.KubeProxyMode, "nodes": "1+1"}
	if got := shape(px); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("profile of X: got %v, want %v", got, want)
	}

	// The command itself, with the read-only kubeconfig, writes the file.
	path := filepath.Join(t.TempDir(), "from-x.yaml")
	var out, errb strings.Builder
	if err := cli.Run(ctx, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errb},
		[]string{"profile", "--kubeconfig", readOnlyKC, "--out", path}); err != nil {
		t.Fatalf("rehearse profile: %v\n%s%s", err, out.String(), errb.String())
	}
	t.Logf("rehearse profile:\n%s%s", out.String(), errb.String())
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "nothing else") {
		t.Errorf("the written scenario does not say it was read with GET only:\n%s", b)
	}
	loaded, err := scenarios.Load(path)
	if err != nil {
		t.Fatalf("the written scenario does not load: %v\n%s", err, b)
	}
	if got := scenarioShape(loaded); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scenario written by rehearse profile: got %v, want %v\n%s", got, want, b)
	}

	// Y from the loaded scenario, through the mapping a rehearsal uses.
	prov := &rehearse.Provisioners{Progress: testWriter{t}}
	yName := "rh-prof-y-" + suffix
	defer func() {
		_ = prov.Teardown(context.WithoutCancel(ctx), &rehearse.Cluster{Name: yName, Throwaway: true})
	}()
	cy, err := prov.Provision(ctx, loaded, yName)
	if err != nil {
		t.Fatal(err)
	}
	py, _ := profileOf(ctx, t, cy.Kubeconfig)
	if a, b := shape(px), shape(py); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("round trip differs: X %v, Y %v", a, b)
	}
	t.Logf("X and Y agree: %v", shape(py))
}

func shape(p *profile.Profile) map[string]string {
	return map[string]string{"version": p.KubernetesVersion, "cni": p.CNI, "pods": p.PodSubnet, "services": p.ServiceSubnet,
		"proxy": p.KubeProxyMode, "nodes": fmt.Sprintf("%d+%d", p.ControlPlanes, p.Workers)}
}

func scenarioShape(sc *scenarios.Scenario) map[string]string {
	c := sc.Cluster
	return map[string]string{"version": c.KubernetesVersion, "cni": c.CNI, "pods": c.Networking.PodSubnet, "services": c.Networking.ServiceSubnet,
		"proxy": c.Networking.KubeProxyMode, "nodes": fmt.Sprintf("%d+%d", c.ControlPlanes, c.Workers)}
}

func profileOf(ctx context.Context, t *testing.T, kubeconfig string) (*profile.Profile, *kube.Audit) {
	t.Helper()
	cfg, err := kube.Config(kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	ro, audit := kube.ReadOnly(cfg)
	client, err := kubernetes.NewForConfig(ro)
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Discover(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	return p, audit
}

// readOnlyKubeconfig makes a ServiceAccount bound to a ClusterRole of get,
// list and watch only, and writes a kubeconfig with its token.
func readOnlyKubeconfig(ctx context.Context, t *testing.T, admin string) string {
	t.Helper()
	cfg, err := kube.Config(admin, "")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const ns, name = "default", "rehearse-profiler"
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}},
		{NonResourceURLs: []string{"*"}, Verbs: []string{"get"}},
	}}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["profiler"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	kc.Contexts["profiler"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "profiler"}
	kc.CurrentContext = "profiler"
	path := filepath.Join(t.TempDir(), "profiler.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }
