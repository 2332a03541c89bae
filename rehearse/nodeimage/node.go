package nodeimage

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// buildContainerPrefix names the temporary containers of a build. They
// carry no label: a committed image would pass it on to every node.
const buildContainerPrefix = "rehearse-build-"

// nodeBaseRepository holds the node root file systems without Kubernetes.
const nodeBaseRepository = "localhost/rehearse/node-base"

// nodeEntrypoint is kind's node entrypoint.
var nodeEntrypoint = `ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]`

// nodeBaseImage imports the node root file system into podman once.
func (b *build) nodeBaseImage(ctx context.Context, kindModule string) (string, error) {
	tarball, err := b.nodeRootfs(ctx, kindModule)
	if err != nil {
		return "", err
	}
	key := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(tarball), "node-"), ".tar")
	image := nodeBaseRepository + ":" + key
	if _, ok := b.imageLabels(ctx, image); ok {
		return image, nil
	}
	b.progress("importing the node root file system into %s", Engine)
	err = b.run.run(ctx, cmdSpec{}, Engine, "import",
		"--change", nodeEntrypoint,
		"--change", "ENV container=docker",
		"--change", "STOPSIGNAL SIGRTMIN+3",
		"--change", "LABEL "+LabelKind+"="+KindVersion,
		tarball, image)
	if err != nil {
		return "", fmt.Errorf("import node root file system: %w", err)
	}
	return image, nil
}

// defaultStorageManifest is kind's legacy host-path StorageClass: it needs
// no image.
const defaultStorageManifest = `# host-path based default storage class
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  namespace: kube-system
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
`

// DefaultCNIManifest turns the patched flannel manifest into kind's default
// CNI manifest: kind templates the pod subnet of the cluster's config into
// it, so flannel is installed whenever the default CNI is not disabled.
func DefaultCNIManifest(flannel string) (string, error) {
	const network = `"Network": "10.244.0.0/16"`
	if strings.Contains(flannel, "{{") || strings.Count(flannel, network) != 1 {
		return "", fmt.Errorf("flannel manifest: cannot template its pod network")
	}
	return "# would you kindly template this file\n" +
		strings.Replace(flannel, network, `"Network": "{{ .PodSubnet }}"`, 1), nil
}

// imagesManifest is the JSON written to ImagesManifestPath.
type imagesManifest struct {
	Kubernetes string    `json:"kubernetes"`
	Recipe     string    `json:"recipe"`
	Images     []archive `json:"images"`
}

// stage writes the files added to the node root file system.
func (b *build) stage(p parts, archives []archive) (string, error) {
	dir := filepath.Join(b.cache, "work", "stage-"+b.version.String())
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	for _, cmd := range NodeCommands {
		data, err := os.ReadFile(filepath.Join(p.kubeBin, cmd))
		if err != nil {
			return "", err
		}
		if err := writeFile(filepath.Join(dir, "usr", "bin", cmd), data, 0o755); err != nil {
			return "", err
		}
	}
	cni, err := DefaultCNIManifest(p.flannelYML)
	if err != nil {
		return "", err
	}
	for i := range archives {
		if archives[i].Digest, err = imageDigest(archives[i].Path, mustRef(archives[i].Ref)); err != nil {
			return "", fmt.Errorf("archive of %s: %w", archives[i].Ref, err)
		}
	}
	manifest, err := json.MarshalIndent(imagesManifest{Kubernetes: b.version.String(), Recipe: b.recipe.Hash(), Images: archives}, "", "  ")
	if err != nil {
		return "", err
	}
	files := map[string]string{
		"kind/version":                               b.version.String(),
		"kind/manifests/default-cni.yaml":            cni,
		strings.TrimPrefix(FlannelManifestPath, "/"): p.flannelYML,
		"kind/manifests/default-storage.yaml":        defaultStorageManifest,
		strings.TrimPrefix(ImagesManifestPath, "/"):  string(manifest) + "\n",
	}
	for name, content := range files {
		if err := writeFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func mustRef(s string) ImageRef {
	r, err := ParseImageRef(s)
	if err != nil {
		panic(err)
	}
	return r
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, mode)
}

// assemble starts a container of the node root file system, adds the
// Kubernetes binaries and manifests, imports every image archive into its
// containerd, and commits it as the node image.
func (b *build) assemble(ctx context.Context, p parts, archives []archive) (images []string, err error) {
	stage, err := b.stage(p, archives)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	name := fmt.Sprintf(buildContainerPrefix+"%s-%d", strings.ReplaceAll(b.version.String(), ".", "-"), time.Now().UnixNano()%1e9)
	b.progress("assembling the node in container %s", name)
	err = b.run.run(ctx, cmdSpec{}, Engine, append(RuntimeArgs(), "run", "-d", "--privileged",
		"--name", name,
		"-v", stage+":/mnt/rehearse-stage:ro",
		"-v", filepath.Join(b.cache, "images")+":/mnt/rehearse-images:ro",
		"--entrypoint", "sleep", p.nodeBase, "infinity")...)
	defer func() {
		// Remove the build container even when ctx is cancelled.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if rmErr := b.run.run(cctx, cmdSpec{}, Engine, "rm", "-f", "-t", "0", name); rmErr != nil && err == nil {
			err = fmt.Errorf("remove build container: %w", rmErr)
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("start build container: %w", err)
	}
	exec := func(args ...string) error {
		return b.run.run(ctx, cmdSpec{}, Engine, append([]string{"exec", name}, args...)...)
	}
	if err := exec("cp", "-a", "/mnt/rehearse-stage/.", "/"); err != nil {
		return nil, err
	}
	if err := exec("bash", "-c", "setsid -f containerd >/tmp/containerd-build.log 2>&1 </dev/null"); err != nil {
		return nil, err
	}
	if err := exec("bash", "-c", `for i in $(seq 1 120); do
  if [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1; then exit 0; fi
  sleep 0.5
done
echo "containerd did not start:"; cat /tmp/containerd-build.log; exit 1`); err != nil {
		return nil, err
	}
	for _, a := range archives {
		b.progress("importing %s", a.Ref)
		if err := exec("ctr", "--namespace=k8s.io", "images", "import",
			"--label=io.cri-containerd.pinned=pinned", "--all-platforms", "--no-unpack",
			"/mnt/rehearse-images/"+a.File); err != nil {
			return nil, fmt.Errorf("import %s: %w", a.Ref, err)
		}
	}
	out, err := b.run.output(ctx, cmdSpec{}, Engine, "exec", name, "ctr", "--namespace=k8s.io", "images", "list", "-q")
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, l := range strings.Fields(out) {
		have[l] = true
		images = append(images, l)
	}
	for _, a := range archives {
		if !have[a.Ref] {
			return nil, fmt.Errorf("image %s missing from the node's containerd after import (has %s)", a.Ref, strings.Join(images, ", "))
		}
	}
	// sleep, PID 1 of the build container, reaps no child: a stopped
	// containerd stays a zombie, which does not count.
	if err := exec("bash", "-c", `alive() {
  for p in $(pgrep -x containerd); do
    grep -qE '^State:\s+Z' /proc/$p/status 2>/dev/null || return 0
  done
  return 1
}
pkill -x containerd || true
for i in $(seq 1 120); do alive || break; sleep 0.25; done
if alive; then echo "containerd did not stop"; ps -ef; exit 1; fi
rm -rf /tmp/containerd-build.log /run/containerd /var/lib/containerd/tmpmounts`); err != nil {
		return nil, err
	}
	b.progress("committing %s", b.version.NodeImage())
	args := []string{"commit", "-q",
		"--change", nodeEntrypoint,
		"--change", "CMD []",
		"--change", "STOPSIGNAL SIGRTMIN+3",
		"--change", "ENV container=docker",
	}
	for _, l := range [][2]string{
		{LabelKubernetes, b.version.String()},
		{LabelRecipe, b.recipe.Hash()},
		{LabelSource, "built"},
		{LabelKind, KindVersion},
	} {
		args = append(args, "--change", fmt.Sprintf("LABEL %s=%s", l[0], l[1]))
	}
	args = append(args, name, b.version.NodeImage())
	oldID, _ := b.run.output(ctx, cmdSpec{}, Engine, "image", "inspect", "--format", "{{.Id}}", b.version.NodeImage())
	if err := b.run.run(ctx, cmdSpec{}, Engine, args...); err != nil {
		return nil, fmt.Errorf("commit node image: %w", err)
	}
	if oldID = strings.TrimSpace(oldID); oldID != "" {
		// The image this build replaces, unless a container still uses it.
		_ = b.run.run(ctx, cmdSpec{}, Engine, "rmi", oldID)
	}
	return images, nil
}
