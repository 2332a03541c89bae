package workloads_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/rehearse/cluster"
	"github.com/rehearse/rehearse/rehearse/kube"
	"github.com/rehearse/rehearse/rehearse/workloads"
)

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

const crdYAML = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: shelves.shop.example}
spec:
  group: shop.example
  scope: Namespaced
  names: {plural: shelves, singular: shelf, kind: Shelf}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
---
apiVersion: shop.example/v1
kind: Shelf
metadata: {name: top, namespace: shop}
spec: {items: 3}
`

// TestIntegrationApplyOnARealCluster applies the own-app example to a real
// kind cluster: the shop's image loaded from podman's store without a
// registry, a CustomResourceDefinition and a custom resource of it in the
// same apply (the resource must wait for its definition), server-side apply
// with rehearse's field manager, the Deployment waited on until rolled out;
// then the naive overlay (a kustomization) applied over it: one replica, the
// budget deleted from the build.
func TestIntegrationApplyOnARealCluster(t *testing.T) {
	testenv.RequireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	root := filepath.Join("..", "..")
	if out, err := exec.Command(filepath.Join(root, "scripts", "build-example-app.sh")).CombinedOutput(); err != nil {
		t.Fatalf("build the shop image: %v\n%s", err, out)
	}
	p, err := cluster.NewProvider(ctx, cluster.Options{Progress: testWriter{t}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("rehearse-wl-%d", time.Now().Unix()%100000)
	t.Cleanup(func() { _ = p.Delete(context.Background(), name) })
	created, err := p.Create(ctx, cluster.Spec{Name: name, Kubernetes: "v1.35.4", ControlPlanes: 1, Workers: 1, CNI: cluster.CNIFlannel}, cluster.CreateOptions{Throwaway: true})
	if err != nil {
		t.Fatal(err)
	}

	const image = "localhost/rehearse/shop:example"
	missing, err := p.MissingImages(ctx, name, []string{image})
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 2 {
		t.Fatalf("before loading, both nodes should lack %s: %v", image, missing)
	}
	start := time.Now()
	if err := p.LoadImages(ctx, name, []string{image}); err != nil {
		t.Fatal(err)
	}
	t.Logf("FIGURE load %s into 2 nodes: %s", image, time.Since(start).Round(100*time.Millisecond))
	if missing, err = p.MissingImages(ctx, name, []string{image}); err != nil || len(missing) != 0 {
		t.Fatalf("after loading: missing %v, %v", missing, err)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shelf.yaml"), []byte(crdYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	objs, err := workloads.Load(workloads.Source{Path: filepath.Join(root, "scenarios", "examples", "own-app", "manifests")})
	if err != nil {
		t.Fatal(err)
	}
	crs, err := workloads.Load(workloads.Source{Path: filepath.Join(dir, "shelf.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	// The custom resource comes before its definition's namespace and the
	// definition itself: the apply must order them.
	objs = append(crs[1:], append(objs, crs[0])...)
	cfg, err := kube.Config(created.Kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := workloads.NewApplier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	applied, err := a.Apply(ctx, objs, workloads.Options{Timeout: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("FIGURE apply and wait for %d objects: %s", len(applied), time.Since(start).Round(100*time.Millisecond))

	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	shelf, err := dyn.Resource(schema.GroupVersionResource{Group: "shop.example", Version: "v1", Resource: "shelves"}).Namespace("shop").Get(ctx, "top", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the custom resource was not applied: %v", err)
	}
	managed := false
	for _, m := range shelf.GetManagedFields() {
		managed = managed || (m.Manager == workloads.FieldManager && m.Operation == metav1.ManagedFieldsOperationApply)
	}
	if !managed {
		t.Errorf("the custom resource was not applied server-side by %s: %+v", workloads.FieldManager, shelf.GetManagedFields())
	}
	cs, err := cluster.Clientset(created.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := cs.AppsV1().Deployments("shop").Get(ctx, "shop", metav1.GetOptions{})
	if err != nil || dep.Status.AvailableReplicas != 2 {
		t.Fatalf("the shop is not rolled out with 2 replicas: %v %+v", err, dep.Status)
	}

	fragile, err := workloads.Load(workloads.Source{Path: filepath.Join(root, "scenarios", "examples", "own-app", "fragile")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range fragile {
		if o.Object.GetKind() == "PodDisruptionBudget" {
			t.Fatalf("the fragile overlay still holds the budget: %s", o)
		}
	}
	if _, err := a.Apply(ctx, fragile, workloads.Options{Timeout: 3 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	dep, err = cs.AppsV1().Deployments("shop").Get(ctx, "shop", metav1.GetOptions{})
	if err != nil || *dep.Spec.Replicas != 1 {
		t.Fatalf("the overlay did not make the shop one replica: %v", err)
	}
}
