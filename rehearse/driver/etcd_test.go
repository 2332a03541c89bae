package driver

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeEtcd answers etcd's JSON gateway: one member list for all, a status
// per endpoint (a missing one does not answer).
type fakeEtcd struct {
	members string
	status  map[string]string
}

func (f fakeEtcd) post(_ context.Context, endpoint, path string, out any) error {
	var body string
	switch path {
	case "/v3/cluster/member/list":
		body = f.members
	case "/v3/maintenance/status":
		var ok bool
		if body, ok = f.status[endpoint]; !ok {
			return errors.New("connection refused")
		}
	}
	return json.Unmarshal([]byte(body), out)
}

func TestCheckEtcd(t *testing.T) {
	three := `{"members":[{"ID":"11","name":"cp1"},{"ID":"22","name":"cp2"},{"ID":"33","name":"cp3"}]}`
	status := func(id, leader string) string {
		return `{"header":{"member_id":"` + id + `"},"version":"3.6.5","leader":"` + leader + `"}`
	}
	eps := []string{"a:2379", "b:2379", "c:2379"}
	allAgree := map[string]string{"a:2379": status("11", "22"), "b:2379": status("22", "22"), "c:2379": status("33", "22")}

	h, err := checkEtcd(context.Background(), fakeEtcd{members: three, status: allAgree}, eps, 3)
	require.NoError(t, err)
	assert.Equal(t, "3 members started, leader cp2", h.String())
	assert.Equal(t, "3.6.5", h.Members[0].Version)

	for _, tc := range []struct {
		name    string
		members string
		status  map[string]string
		want    string
	}{
		{"a member down", three, map[string]string{"a:2379": status("11", "22"), "b:2379": status("22", "22")}, "c:2379 does not answer"},
		{"a member not started", `{"members":[{"ID":"11","name":"cp1"},{"ID":"22","name":"cp2"},{"ID":"33"}]}`, allAgree, "member 33 not started"},
		{"a learner", `{"members":[{"ID":"11","name":"cp1"},{"ID":"22","name":"cp2"},{"ID":"33","name":"cp3","isLearner":true}]}`, allAgree, "member cp3 is a learner"},
		{"a member missing", `{"members":[{"ID":"11","name":"cp1"},{"ID":"22","name":"cp2"}]}`, allAgree, "2 members, want 3"},
		{"no leader", three, map[string]string{"a:2379": status("11", "0"), "b:2379": status("22", "0"), "c:2379": status("33", "0")}, "no leader"},
		{"split view", three, map[string]string{"a:2379": status("11", "11"), "b:2379": status("22", "22"), "c:2379": status("33", "22")}, "members disagree on the leader: 11, 22"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkEtcd(context.Background(), fakeEtcd{members: tc.members, status: tc.status}, eps, 3)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestKubeadmPlanWaitsForEtcdBetweenControlPlanes(t *testing.T) {
	d, err := NewKubeadm(KubeadmSettings{})
	require.NoError(t, err)
	plan, err := d.Plan(context.Background(), Env{Shape: KindShape("ha", "v1.35.4", 3, 2)}, "v1.36.3")
	require.NoError(t, err)
	var cps []string
	for _, g := range plan.Root.Children[1].Children {
		var steps []string
		for _, s := range g.Children {
			steps = append(steps, s.Name)
		}
		cps = append(cps, g.Name)
		assert.Contains(t, steps, etcdStep, g.Name)
		assert.Equal(t, etcdStep, steps[len(steps)-2], "%s: etcd is whole again before its staged files go and the next control plane starts", g.Name)
	}
	assert.Equal(t, []string{"ha-control-plane", "ha-control-plane2", "ha-control-plane3"}, cps)
	// Once the last control plane is upgraded kubeadm rolls kube-proxy and
	// CoreDNS: no node is drained before that roll is done.
	settled := map[string]string{}
	for _, g := range plan.Root.Children[1].Children {
		for i, s := range g.Children {
			if s.Name == settleStep {
				settled[g.Name] = g.Children[i-1].Name + " -> " + g.Children[i+1].Name
			}
		}
	}
	assert.Equal(t, map[string]string{
		"ha-control-plane":  "kubeadm upgrade apply v1.36.3 -> cordon",
		"ha-control-plane3": "kubeadm upgrade node -> cordon",
	}, settled)
	// One control plane: nothing to wait for.
	plan, err = d.Plan(context.Background(), Env{Shape: KindShape("one", "v1.35.4", 1, 2)}, "v1.36.3")
	require.NoError(t, err)
	for _, s := range plan.Leaves() {
		assert.NotEqual(t, etcdStep, s.Name)
	}
}
