package ledger

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/rehearse/rehearse/scenarios"
)

func TestManifestsPersistent(t *testing.T) {
	objs := Manifests(Options{Ledger: scenarios.Ledger{Enabled: true}, Image: "registry.k8s.io/etcd:3.6.6-0"}, []string{"cp", "w1", "w2"})
	ss := objs.StatefulSet
	require.NotNil(t, ss)
	assert.Equal(t, int32(3), *ss.Spec.Replicas)
	args := strings.Join(ss.Spec.Template.Spec.Containers[0].Args, " ")
	assert.Contains(t, args, "--initial-cluster=ledger-0=http://ledger-0.ledger.rehearse-ledger.svc:2380,ledger-1=http://ledger-1.ledger.rehearse-ledger.svc:2380,ledger-2=")
	assert.True(t, objs.Headless.Spec.PublishNotReadyAddresses, "peers must resolve before they are Ready")
	require.Len(t, objs.Volumes, 3)
	for i, pv := range objs.Volumes {
		term := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0]
		assert.Equal(t, []string{[]string{"cp", "w1", "w2"}[i]}, term.Values, "one volume pinned to each node")
		assert.Equal(t, StorageClass, pv.Spec.StorageClassName)
	}
	require.Len(t, ss.Spec.VolumeClaimTemplates, 1)
	assert.Equal(t, StorageClass, *ss.Spec.VolumeClaimTemplates[0].Spec.StorageClassName)
	require.NotNil(t, objs.PDB)
	assert.Equal(t, 1, objs.PDB.Spec.MaxUnavailable.IntValue())
}

func TestManifestsEphemeralWithoutBudget(t *testing.T) {
	objs := Manifests(Options{Ledger: scenarios.Ledger{Enabled: true, Members: 1, Storage: scenarios.LedgerEphemeral, PDB: scenarios.PDB{Disabled: true}}, Image: "etcd"}, []string{"cp", "w1"})
	assert.Nil(t, objs.PDB)
	assert.Nil(t, objs.StorageClass)
	assert.Empty(t, objs.Volumes)
	vols := objs.StatefulSet.Spec.Template.Spec.Volumes
	require.Len(t, vols, 1)
	assert.NotNil(t, vols[0].EmptyDir)
	assert.Equal(t, corev1.ServiceTypeNodePort, objs.Client.Spec.Type)
}
