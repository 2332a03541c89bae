package workloads

import (
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// podSpecPath is where a kind that makes pods keeps its pod spec, or nil.
func podSpecPath(kind string) []string {
	switch kind {
	case "Pod":
		return []string{"spec"}
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job":
		return []string{"spec", "template", "spec"}
	case "CronJob":
		return []string{"spec", "jobTemplate", "spec", "template", "spec"}
	}
	return nil
}

// Images lists, sorted and once each, the images of every container and
// init container in the pod templates of the objects' Pods, Deployments,
// StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs and
// CronJobs.
func Images(objs []Object) []string {
	seen := map[string]bool{}
	var out []string
	for _, o := range objs {
		path := podSpecPath(o.Object.GetKind())
		if path == nil {
			continue
		}
		spec, found, err := unstructured.NestedMap(o.Object.Object, path...)
		if err != nil || !found {
			continue
		}
		for _, field := range []string{"initContainers", "containers"} {
			containers, _, _ := unstructured.NestedSlice(spec, field)
			for _, c := range containers {
				m, ok := c.(map[string]any)
				if !ok {
					continue
				}
				if image, _, _ := unstructured.NestedString(m, "image"); image != "" && !seen[image] {
					seen[image] = true
					out = append(out, image)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}
