package cluster

import (
	"bytes"
	"context"
	"fmt"
	"github.com/rehearse/rehearse/internal/testenv"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
)

const (
	itKubernetes = "v1.35.4"
	// itKubernetesNext is the version rehearsals upgrade to.
	itKubernetesNext = "v1.36.3"
	itToolsImage     = "localhost/rehearse/itest-busybox:1"
	itNodePort       = 31080
)

// TestIntegrationClusterCreate creates 1 control plane and 2 workers with
// flannel, proves pod networking, DNS and NodePorts, then deletes the
// cluster and checks nothing labelled is left.
func TestIntegrationClusterCreate(t *testing.T) {
	testenv.RequireCluster(t)
	for _, v := range []string{itKubernetes, itKubernetesNext} {
		t.Run(v, func(t *testing.T) { testClusterCreate(t, v) })
	}
}

func testClusterCreate(t *testing.T, itKubernetes string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	host := LocalHost{}

	d := NewDoctor(host, itKubernetes)
	var report bytes.Buffer
	if results := d.Run(ctx, false, func(r Result) { WriteResult(&report, r) }); !Healthy(results) {
		t.Fatalf("rehearse doctor --kubernetes %s fails:\n%s", itKubernetes, report.String())
	}
	t.Logf("doctor:\n%s", report.String())

	p, err := NewProvider(ctx, Options{Progress: testWriter{t}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("rehearse-it-%d", time.Now().Unix()%100000)
	spec := Spec{Name: name, Kubernetes: itKubernetes, ControlPlanes: 1, Workers: 2, CNI: CNIFlannel}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_ = p.Delete(context.Background(), name)
		}
	})

	t0 := time.Now()
	created, err := p.Create(ctx, spec, CreateOptions{Wait: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("created %s in %s (steps %v)", name, time.Since(t0).Round(time.Second), created.Steps)
	if fi, err := os.Stat(created.Kubeconfig); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig %s: %v, mode %v; want 0600", created.Kubeconfig, err, fi.Mode().Perm())
	}
	list, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !hasCluster(list, name) {
		t.Errorf("list %+v lacks %s", list, name)
	}

	cs, err := Clientset(created.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	r, err := checkReadiness(ctx, cs)
	if err != nil || !r.Ready(3) {
		t.Fatalf("not Ready: %s %v", r, err)
	}

	kindNodes, err := p.kind.ListNodes(name)
	if err != nil {
		t.Fatal(err)
	}
	loadToolsImage(ctx, t, p, kindNodes)
	workers := workerNames(t, kindNodes)

	// One web server pod pinned to each worker, behind a NodePort.
	for i, w := range workers {
		pod := webPod(fmt.Sprintf("web-%d", i+1), w)
		if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: itNodePort}},
		},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ips := waitPodIPs(ctx, t, cs, "web-1", "web-2")

	cp, err := p.controlPlane(name)
	if err != nil {
		t.Fatal(err)
	}
	kexec := func(pod string, args ...string) (string, error) {
		var out bytes.Buffer
		all := append([]string{"--kubeconfig=/etc/kubernetes/admin.conf", "exec", pod, "--"}, args...)
		err := cp.Command("kubectl", all...).SetStdout(&out).SetStderr(&out).Run()
		return out.String(), err
	}

	// Pod to pod across workers.
	out, err := retry(ctx, func() (string, error) {
		// busybox's wget is a static glibc build that crashes resolving in a
		// bare image; nc speaks HTTP/1.0 by hand.
		return kexec("web-1", "/bin/busybox", "sh", "-c",
			`printf 'GET / HTTP/1.0\r\n\r\n' | /bin/busybox nc -w 5 `+ips["web-2"]+` 8080`)
	})
	if err != nil || !strings.Contains(out, workers[1]) {
		t.Errorf("web-1 on %s -> web-2 on %s (%s): %q, %v", workers[0], workers[1], ips["web-2"], out, err)
	}
	// Service DNS.
	out, err = retry(ctx, func() (string, error) {
		return kexec("web-1", "/bin/busybox", "nslookup", "kubernetes.default.svc.cluster.local")
	})
	if err != nil || !strings.Contains(out, "Address") {
		t.Errorf("web-1 resolving kubernetes.default: %q, %v", out, err)
	}
	// NodePort from the host on every node's address.
	nodeList, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodeList.Items {
		addr := internalIP(n)
		url := fmt.Sprintf("http://%s:%d/", addr, itNodePort)
		body, err := retry(ctx, func() (string, error) { return httpGet(ctx, url) })
		if err != nil || !strings.Contains(body, "served by") {
			t.Errorf("NodePort on node %s (%s): %q, %v", n.Name, url, body, err)
		}
	}

	// The logs of a failed rehearsal: every node's kubelet log and a note
	// on what could not be collected.
	logs := t.TempDir()
	if err := p.ExportLogs(ctx, name, logs); err != nil {
		t.Errorf("export logs: %v", err)
	}
	for _, n := range nodeList.Items {
		if fi, err := os.Stat(filepath.Join(logs, n.Name, "kubelet.log")); err != nil || fi.Size() == 0 {
			t.Errorf("no kubelet log of %s in the exported logs: %v", n.Name, err)
		}
	}

	t1 := time.Now()
	if err := p.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	deleted = true
	t.Logf("deleted %s in %s", name, time.Since(t1).Round(100*time.Millisecond))
	if out, _ := host.Run(ctx, p.Engine(), "ps", "-a", "--filter", "label="+KindClusterLabel+"="+name, "--format", "{{.Names}}"); strings.TrimSpace(out) != "" {
		t.Errorf("containers left: %s", out)
	}
	for _, n := range kindNodes {
		if out, _ := host.Run(ctx, p.Engine(), "volume", "ls", "--filter", "label="+n.String(), "--quiet"); strings.TrimSpace(out) != "" {
			t.Errorf("volumes of %s left: %s", n, out)
		}
	}
	if rows, _ := p.nodeRows(ctx); len(rows) == 0 {
		if _, err := host.Run(ctx, p.Engine(), "network", "inspect", kindNetwork); err == nil {
			t.Errorf("network %s left with no kind cluster on it", kindNetwork)
		}
	}
	if _, err := os.Stat(filepath.Dir(created.Kubeconfig)); !os.IsNotExist(err) {
		t.Errorf("kubeconfig folder left: %v", err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func hasCluster(list []Info, name string) bool {
	for _, c := range list {
		if c.Name == name {
			return true
		}
	}
	return false
}

// loadToolsImage makes a busybox image on the host and imports it into
// every node's containerd, as kind load does.
func loadToolsImage(ctx context.Context, t *testing.T, p *Provider, ns []nodes.Node) {
	t.Helper()
	h := LocalHost{}
	if _, err := h.Run(ctx, p.Engine(), "image", "inspect", itToolsImage); err != nil {
		bin, err := os.ReadFile("/bin/busybox")
		if err != nil || !isStaticELF(bin) {
			t.Fatalf("the test needs a static /bin/busybox (apt-get install busybox-static): %v", err)
		}
		tarball, err := probeTar("bin/busybox", bin)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "busybox.tar")
		if err := os.WriteFile(path, tarball, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Run(ctx, p.Engine(), "import", path, itToolsImage); err != nil {
			t.Fatal(err)
		}
	}
	archive := filepath.Join(t.TempDir(), "tools.tar")
	if _, err := h.Run(ctx, p.Engine(), "save", "--format", "docker-archive", "-o", archive, itToolsImage); err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		f, err := os.Open(archive)
		if err != nil {
			t.Fatal(err)
		}
		err = nodeutils.LoadImageArchive(n, f)
		f.Close()
		if err != nil {
			t.Fatalf("load %s into %s: %v", itToolsImage, n, withOutput(err))
		}
	}
}

func workerNames(t *testing.T, ns []nodes.Node) []string {
	t.Helper()
	var ws []string
	for _, n := range ns {
		if role, _ := n.Role(); role == "worker" {
			ws = append(ws, n.String())
		}
	}
	if len(ws) != 2 {
		t.Fatalf("want 2 workers, got %v", ws)
	}
	return ws
}

func webPod(name, nodeName string) *corev1.Pod {
	script := `/bin/busybox mkdir -p /www && echo "served by $NODE" > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www`
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName: nodeName,
			Containers: []corev1.Container{{
				Name:            "web",
				Image:           itToolsImage,
				ImagePullPolicy: corev1.PullNever,
				Command:         []string{"/bin/busybox", "sh", "-c", script},
				Env:             []corev1.EnvVar{{Name: "NODE", Value: nodeName}},
				Ports:           []corev1.ContainerPort{{ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}},
			}},
		},
	}
}

func waitPodIPs(ctx context.Context, t *testing.T, cs kubernetes.Interface, names ...string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		ips := map[string]string{}
		var waiting []string
		for _, n := range names {
			pod, err := cs.CoreV1().Pods("default").Get(ctx, n, metav1.GetOptions{})
			if err == nil && pod.Status.PodIP != "" && readiness(nil, []corev1.Pod{*pod}).ReadyPods == 1 {
				ips[n] = pod.Status.PodIP
			} else {
				waiting = append(waiting, n)
			}
		}
		if len(waiting) == 0 {
			return ips
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods not Ready: %v", waiting)
		}
		time.Sleep(2 * time.Second)
	}
}

func internalIP(n corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

func httpGet(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// retry runs f until it succeeds, for up to a minute.
func retry(ctx context.Context, f func() (string, error)) (string, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := f()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return out, err
		}
		time.Sleep(2 * time.Second)
	}
}
