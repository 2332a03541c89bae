package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
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

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/rehearse/nodeimage"
)

const (
	// itReadyWithin is the acceptance: every node and every kube-system pod
	// Ready within 3 minutes. It is the create's Wait, so a slower cluster
	// fails its create.
	itReadyWithin = 3 * time.Minute
	itKubernetes  = "v1.35.4"
	// itKubernetesNext is the version rehearsals upgrade to.
	itKubernetesNext = "v1.36.3"
	// itToolsRepository holds the tools image of the tests (busybox and
	// testdata/resolve), tagged with a digest of its content.
	itToolsRepository = "localhost/rehearse/itest-tools"
	itNodePort        = 31080
)

// TestIntegrationClusterCreate creates 1 control plane and 2 workers with
// flannel, at each version, waiting at most 3 minutes for every node and
// kube-system pod to be Ready; proves pod networking across workers, Service
// DNS by the search path and NodePorts on every node from the host; then
// deletes the cluster and checks nothing is left.
func TestIntegrationClusterCreate(t *testing.T) {
	testenv.RequireCluster(t)
	for _, v := range []string{itKubernetes, itKubernetesNext} {
		t.Run(v, func(t *testing.T) { testClusterCreate(t, v, CNIFlannel) })
	}
}

// TestIntegrationClusterCreateCalico is TestIntegrationClusterCreate with
// Calico in VXLAN mode, its images built from source (cached after the
// first build, about 13 minutes on two cores): the same pod networking
// across workers, Service DNS and NodePorts. It runs in make test-full.
func TestIntegrationClusterCreateCalico(t *testing.T) {
	testenv.RequireFull(t)
	testClusterCreate(t, itKubernetes, CNICalico)
}

func testClusterCreate(t *testing.T, itKubernetes, cni string) {
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
	spec := Spec{Name: name, Kubernetes: itKubernetes, ControlPlanes: 1, Workers: 2, CNI: cni}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_ = p.Delete(context.Background(), name)
		}
	})
	volumesBefore := volumeNames(ctx, t, p)

	t0 := time.Now()
	created, err := p.Create(ctx, spec, CreateOptions{Wait: itReadyWithin, Throwaway: true, Calico: buildCalico(t)})
	if err != nil {
		t.Fatal(err)
	}
	ready := time.Since(t0)
	var waited time.Duration
	var steps []string
	for _, st := range created.Steps {
		steps = append(steps, fmt.Sprintf("%s %s", st.Name, st.Duration.Round(100*time.Millisecond)))
		if st.Name == "wait for Ready" {
			waited = st.Duration
		}
	}
	t.Logf("FIGURE %s: create to every node and kube-system pod Ready: %s (the wait for Ready took %s of it, bound %s); steps: %s",
		itKubernetes, ready.Round(100*time.Millisecond), waited.Round(100*time.Millisecond), itReadyWithin, strings.Join(steps, ", "))
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
	// The throwaway cluster names this process as its owner, which runs:
	// no pruning may take it.
	for _, in := range list {
		if in.Name != name {
			continue
		}
		if state, ok := p.OwnerState(in); !ok || state != OwnerAlive || in.Owner.PID != os.Getpid() {
			t.Errorf("cluster %s: owner %v, state %s (marked %v); want this process (pid %d), running", name, in.Owner, state, ok, os.Getpid())
		}
	}
	if orphans, err := p.Orphans(ctx); err != nil {
		t.Error(err)
	} else {
		for _, o := range orphans {
			if o.Name == name {
				t.Errorf("cluster %s, whose owner runs, is listed as an orphan", name)
			}
		}
	}

	cs, err := Clientset(created.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	r, err := checkReadiness(ctx, cs, readiness)
	if err != nil || !r.Ready(3) {
		t.Fatalf("not Ready: %s %v", r, err)
	}

	kindNodes, err := p.kind.ListNodes(name)
	if err != nil {
		t.Fatal(err)
	}
	toolsImage := loadToolsImage(ctx, t, p, kindNodes)
	workers := workerNames(t, kindNodes)

	// One web server pod pinned to each worker, behind a NodePort.
	for i, w := range workers {
		pod := webPod(fmt.Sprintf("web-%d", i+1), w, toolsImage)
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
	// Service DNS: the short name kubernetes.default, through the pod's
	// search path, must answer with the kubernetes Service's ClusterIP.
	// busybox's nslookup applies no search path to a name with a dot (and
	// prints the server's "Address" even when it fails): testdata/resolve
	// looks up as Go's resolver does, from the pod's /etc/resolv.conf.
	kubeSvc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clusterIP := kubeSvc.Spec.ClusterIP
	out, err = retry(ctx, func() (string, error) {
		out, err := kexec("web-1", "/resolve", "kubernetes.default")
		if err == nil && !resolvedTo(out, "kubernetes.default", clusterIP) {
			err = fmt.Errorf("no answer %s for kubernetes.default", clusterIP)
		}
		return out, err
	})
	if err != nil {
		t.Errorf("web-1 resolving kubernetes.default (want the kubernetes Service's %s): %q, %v", clusterIP, out, err)
	} else {
		t.Logf("web-1 resolves: %s", strings.TrimSpace(out))
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
	for _, n := range kindNodes {
		if out, _ := host.Run(ctx, p.Engine(), "volume", "ls", "--filter", "label="+n.String(), "--quiet"); strings.TrimSpace(out) != "" {
			t.Errorf("volumes of %s left: %s", n, out)
		}
	}
	assertNoLeftovers(ctx, t, p, name, filepath.Dir(created.Kubeconfig), volumesBefore)
}

// volumeNames lists the engine's volumes.
func volumeNames(ctx context.Context, t *testing.T, p *Provider) map[string]bool {
	t.Helper()
	rows, err := p.volumeRows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range rows {
		names[r.Name] = true
	}
	return names
}

// assertNoLeftovers checks that nothing of the cluster is left: no container
// with its name, no volume kind made for its nodes nor any unlabelled volume
// that appeared since before was taken, no kubeconfig folder, and no kind
// network unless another kind cluster is on it.
func assertNoLeftovers(ctx context.Context, t *testing.T, p *Provider, name, kubeconfigDir string, before map[string]bool) {
	t.Helper()
	if cs, err := p.clusterContainers(ctx, name); err != nil || len(cs) > 0 {
		t.Errorf("containers of %s left: %v %v", name, cs, err)
	}
	rows, err := p.volumeRows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if vs := kindNodeVolumes(rows, name); len(vs) > 0 {
		t.Errorf("volumes of %s's nodes left: %v", name, vs)
	}
	for _, r := range rows {
		if before != nil && !before[r.Name] && len(r.Labels) == 0 {
			t.Errorf("unlabelled volume %s appeared while the test ran and is left", r.Name)
		}
	}
	if nodes, err := p.nodeRows(ctx); err == nil && len(nodes) == 0 {
		if _, err := p.host.Run(ctx, p.Engine(), "network", "inspect", kindNetwork); err == nil {
			t.Errorf("network %s left with no kind cluster on it", kindNetwork)
		}
	} else {
		t.Logf("kind's network stays: other kind nodes exist: %d (%v)", len(nodes), err)
	}
	if _, err := os.Stat(kubeconfigDir); !os.IsNotExist(err) {
		t.Errorf("kubeconfig folder %s left: %v", kubeconfigDir, err)
	}
}

// resolvedTo says testdata/resolve's output answers name with ip: a line
// "NAME -> ADDR..." with ip among the addresses.
func resolvedTo(out, name, ip string) bool {
	for _, l := range strings.Split(out, "\n") {
		addrs, ok := strings.CutPrefix(strings.TrimSpace(l), name+" -> ")
		if !ok {
			continue
		}
		for _, a := range strings.Fields(addrs) {
			if a == ip {
				return true
			}
		}
	}
	return false
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

// loadToolsImage makes the tools image on the host (static busybox and
// testdata/resolve, built here) and imports it into every node's
// containerd, as kind load does. It returns the image's name.
func loadToolsImage(ctx context.Context, t *testing.T, p *Provider, ns []nodes.Node) string {
	t.Helper()
	h := LocalHost{}
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil || !isStaticELF(busybox) {
		t.Fatalf("the test needs a static /bin/busybox (apt-get install busybox-static): %v", err)
	}
	resolveBin := filepath.Join(t.TempDir(), "resolve")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", resolveBin, "./testdata/resolve")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./testdata/resolve: %v\n%s", err, out)
	}
	resolve, err := os.ReadFile(resolveBin)
	if err != nil {
		t.Fatal(err)
	}
	tarball, err := filesTar([]tarFile{{"bin/busybox", busybox}, {"resolve", resolve}})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(tarball)
	image := fmt.Sprintf("%s:%x", itToolsRepository, sum[:6])
	if _, err := h.Run(ctx, p.Engine(), "image", "inspect", "--format", "{{.Id}}", image); err != nil {
		path := filepath.Join(t.TempDir(), "tools.tar")
		if err := os.WriteFile(path, tarball, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Run(ctx, p.Engine(), "import", path, image); err != nil {
			t.Fatal(err)
		}
	}
	archive := filepath.Join(t.TempDir(), "tools-image.tar")
	if _, err := h.Run(ctx, p.Engine(), "save", "--format", "docker-archive", "-o", archive, image); err != nil {
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
			t.Fatalf("load %s into %s: %v", image, n, withOutput(err))
		}
	}
	return image
}

type tarFile struct {
	name string
	data []byte
}

// filesTar is a root file system of executable files.
func filesTar(files []tarFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
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

func webPod(name, nodeName, image string) *corev1.Pod {
	script := `/bin/busybox mkdir -p /www && echo "served by $NODE" > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www`
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName: nodeName,
			Containers: []corev1.Container{{
				Name:            "web",
				Image:           image,
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

// buildCalico builds Calico's images from source as rehearse does.
func buildCalico(t *testing.T) func(context.Context) (CNIAddon, error) {
	return func(ctx context.Context) (CNIAddon, error) {
		res, err := nodeimage.BuildCalico(ctx, nodeimage.Options{Progress: testWriter{t}})
		if err != nil {
			return CNIAddon{}, err
		}
		t.Logf("calico: images %v, manifest %s, in %s", res.Images, res.Manifest, res.Duration.Round(time.Second))
		return CNIAddon{Images: res.Images, Manifest: res.Manifest}, nil
	}
}
