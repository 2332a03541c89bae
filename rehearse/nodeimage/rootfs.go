package nodeimage

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// debootstrap makes a minbase root file system of DebianSuite with the
// packages in dir (which must not exist), and trims apt's caches and the
// documentation.
func (b *build) debootstrap(ctx context.Context, dir string, packages []string) (err error) {
	defer func() {
		if err != nil {
			unmountUnder(dir)
			os.RemoveAll(dir)
		}
	}()
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	unmountUnder(dir)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	args := []string{"--variant=minbase", "--include=" + strings.Join(packages, ","), DebianSuite, dir, DebianMirror}
	if err := b.run.run(ctx, cmdSpec{}, "debootstrap", args...); err != nil {
		return fmt.Errorf("debootstrap %s: %w", DebianSuite, err)
	}
	unmountUnder(dir)
	return b.chroot(ctx, dir, `apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /var/log/apt/* /usr/share/doc/* /usr/share/man/* /usr/share/info/* /tmp/* /var/tmp/*
if [ -d /usr/share/locale ]; then find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'en*' ! -name locale.alias -exec rm -rf {} +; fi`)
}

// chroot runs a bash script inside the root file system dir.
func (b *build) chroot(ctx context.Context, dir, script string) error {
	err := b.run.run(ctx, cmdSpec{Env: []string{"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C"}},
		"chroot", dir, "/bin/bash", "-euo", "pipefail", "-c", script)
	unmountUnder(dir)
	return err
}

// unmountUnder lazily unmounts everything mounted below dir (debootstrap
// mounts /proc and /sys in its target and leaves them when it is killed).
func unmountUnder(dir string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 1 && strings.HasPrefix(fields[1], abs+"/") {
			mounts = append(mounts, fields[1])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = unmount(mounts[i])
	}
}

// tarDir writes dir's contents as a tarball (gzip when out ends in .gz),
// leaving out the contents of /dev, /proc, /sys and /run.
func (b *build) tarDir(ctx context.Context, dir, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	args := []string{"--numeric-owner", "--xattrs", "-C", dir,
		"--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./run/*"}
	if strings.HasSuffix(out, ".gz") {
		args = append(args, "--use-compress-program=gzip -1")
	}
	args = append(args, "-cf", tmp, ".")
	if err := b.run.run(ctx, cmdSpec{}, "tar", args...); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, out)
}

// baseLayer returns the gzipped root file system of the image base layer:
// Debian minbase with iptables, nftables and conntrack, for kube-proxy,
// flannel and the canary.
func (b *build) baseLayer(ctx context.Context) (string, error) {
	key := b.recipe.component("base-rootfs", strings.Join(BasePackages, ","))
	out := filepath.Join(b.cache, "rootfs", "base-"+key+".tar.gz")
	if _, err := os.Stat(out); err == nil {
		b.progress("image base layer (Debian %s): cached", DebianSuite)
		return out, nil
	}
	b.progress("image base layer: debootstrap %s with %s", DebianSuite, strings.Join(BasePackages, ", "))
	dir := filepath.Join(b.cache, "work", "base-"+key)
	if err := b.debootstrap(ctx, dir, BasePackages); err != nil {
		return "", fmt.Errorf("image base layer: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := b.tarDir(ctx, dir, out); err != nil {
		return "", fmt.Errorf("image base layer: %w", err)
	}
	return out, nil
}

// nodeSetupScript lays out the node root file system the way kind's base
// image Dockerfile does, for Debian's containerd, runc and CNI plugins.
const nodeSetupScript = `chmod 755 /kind /kind/bin
find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete
rm -f /lib/systemd/system/multi-user.target.wants/*
rm -f /etc/systemd/system/*.wants/*
rm -f /lib/systemd/system/local-fs.target.wants/*
rm -f /lib/systemd/system/sockets.target.wants/*udev*
rm -f /lib/systemd/system/sockets.target.wants/*initctl*
rm -f /lib/systemd/system/basic.target.wants/*
echo "ReadKMsg=no" >> /etc/systemd/journald.conf
ln -sf /usr/lib/systemd/systemd /sbin/init
systemctl enable kubelet.service
systemctl enable containerd.service
systemctl enable undo-mount-hacks.service
systemctl mask systemd-binfmt.service
mkdir -p /etc/kubernetes/manifests /opt/cni/bin /etc/cni/net.d /usr/local/sbin
for b in containerd ctr containerd-shim-runc-v2; do ln -sf /usr/bin/$b /usr/local/bin/$b; done
ln -sf /usr/sbin/runc /usr/local/sbin/runc
cp -a /usr/lib/cni/. /opt/cni/bin/
rm -f /etc/cni/net.d/*
ctr oci spec \
  | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
  | jq 'del(.process.rlimits)' \
  > /etc/containerd/cri-base.json
containerd --version
runc --version
: > /etc/machine-id
`

// containerdCNIConfig makes containerd look for CNI plugins where kind and
// flannel put them (Debian's containerd defaults to /usr/lib/cni).
const containerdCNIConfig = `
# CNI plugins live where kind and flannel's installer put them.
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/opt/cni/bin"
  conf_dir = "/etc/cni/net.d"
`

// PatchContainerdConfig adapts kind's containerd config.toml to a node
// without CAP_SYS_RESOURCE (restrict_oom_score_adj) and to Debian's
// containerd (CNI bin_dir).
func PatchContainerdConfig(config string) (string, error) {
	const from, to = "restrict_oom_score_adj = false", "restrict_oom_score_adj = true"
	switch {
	case strings.Contains(config, from):
		config = strings.Replace(config, from, to, 1)
	case strings.Contains(config, to):
	default:
		return "", fmt.Errorf("containerd config: no restrict_oom_score_adj setting")
	}
	if strings.Contains(config, `"io.containerd.grpc.v1.cri".cni]`) {
		return "", fmt.Errorf("containerd config: already has a CNI section")
	}
	return strings.TrimRight(config, "\n") + "\n" + containerdCNIConfig, nil
}

// copyKindFiles copies kind's base-image files (images/base/files of the
// kind module) into the root file system: scripts 0755, other files 0644.
func copyKindFiles(kindModule, root string) error {
	src := filepath.Join(kindModule, "images", "base", "files")
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(root, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if strings.HasPrefix(rel, "usr/local/bin/") || strings.HasPrefix(rel, "kind/bin/") {
			mode = 0o755
		}
		if rel == "etc/containerd/config.toml" {
			patched, err := PatchContainerdConfig(string(data))
			if err != nil {
				return err
			}
			data = []byte(patched)
		}
		os.Remove(dst)
		return os.WriteFile(dst, data, mode)
	})
}

// nodeRootfs returns the node root file system tarball (without any
// Kubernetes bits), made once per recipe.
func (b *build) nodeRootfs(ctx context.Context, kindModule string) (string, error) {
	key := b.recipe.component("node-rootfs", strings.Join(NodePackages, ",")+nodeSetupScript+containerdCNIConfig)
	out := filepath.Join(b.cache, "rootfs", "node-"+key+".tar")
	if _, err := os.Stat(out); err == nil {
		b.progress("node root file system (Debian %s): cached", DebianSuite)
		return out, nil
	}
	b.progress("node root file system: debootstrap %s (about 2 minutes)", DebianSuite)
	dir := filepath.Join(b.cache, "work", "node-"+key)
	if err := b.debootstrap(ctx, dir, NodePackages); err != nil {
		return "", fmt.Errorf("node root file system: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := copyKindFiles(kindModule, dir); err != nil {
		return "", fmt.Errorf("node root file system: kind files: %w", err)
	}
	if err := b.chroot(ctx, dir, nodeSetupScript); err != nil {
		return "", fmt.Errorf("node root file system: set up: %w", err)
	}
	if err := b.tarDir(ctx, dir, out); err != nil {
		return "", fmt.Errorf("node root file system: %w", err)
	}
	return out, nil
}
