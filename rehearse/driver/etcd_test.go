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

func (f fakeEtcd) post(_ context.Context, endpoint, path string, _, out any) error {
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
		assert.Equal(t, etcdLeaderStep, steps[0], "%s: etcd's leadership leaves it before anything of its upgrade", g.Name)
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
		assert.NotEqual(t, etcdLeaderStep, s.Name)
	}
}

// leaderEtcd plays three healthy members where only the leader can hand
// leadership over, as etcd does (a follower answers "not leader").
type leaderEtcd struct {
	leader string // member ID
	down   string // endpoint that does not answer
	refuse error  // the leader's answer to a transfer
	asked  []string
}

var leaderEps = map[string]string{"a:2379": "1", "b:2379": "2", "c:2379": "3"}

func (f *leaderEtcd) post(_ context.Context, endpoint, path string, in, out any) error {
	if endpoint == f.down {
		return errors.New("connection refused")
	}
	var body string
	switch path {
	case "/v3/cluster/member/list":
		body = `{"members":[{"ID":"1","name":"cp1"},{"ID":"2","name":"cp2"},{"ID":"3","name":"cp3"}]}`
	case "/v3/maintenance/status":
		body = `{"header":{"member_id":"` + leaderEps[endpoint] + `"},"version":"3.6.5","leader":"` + f.leader + `"}`
	case "/v3/maintenance/transfer-leadership":
		req := in.(map[string]string)
		f.asked = append(f.asked, endpoint+" -> "+req["targetID"])
		if leaderEps[endpoint] != f.leader {
			return errors.New("etcdserver: not leader")
		}
		if f.refuse != nil {
			return f.refuse
		}
		f.leader = req["targetID"]
		body = `{}`
	default:
		return errors.New("no such path " + path)
	}
	return json.Unmarshal([]byte(body), out)
}

func TestMoveEtcdLeader(t *testing.T) {
	names := []string{"cp1", "cp2", "cp3"}
	eps := []string{"a:2379", "b:2379", "c:2379"}
	ctx := context.Background()

	// The node leads: the leader's own endpoint is asked to hand over to
	// the first preferred member, and the next call finds nothing to do.
	f := &leaderEtcd{leader: "3"}
	leader, moved, err := moveEtcdLeader(ctx, f, names, eps, "cp3", []string{"cp2", "cp1"})
	require.NoError(t, err)
	assert.True(t, moved)
	assert.Equal(t, "cp2", leader)
	assert.Equal(t, []string{"c:2379 -> 2"}, f.asked)
	leader, moved, err = moveEtcdLeader(ctx, f, names, eps, "cp3", []string{"cp2", "cp1"})
	require.NoError(t, err)
	assert.False(t, moved)
	assert.Equal(t, "cp2", leader)
	assert.Len(t, f.asked, 1)

	// Another member leads: nothing is asked.
	f = &leaderEtcd{leader: "1"}
	leader, moved, err = moveEtcdLeader(ctx, f, names, eps, "cp3", []string{"cp2", "cp1"})
	require.NoError(t, err)
	assert.False(t, moved)
	assert.Equal(t, "cp1", leader)
	assert.Empty(t, f.asked)

	// The first control plane hands over to the next.
	f = &leaderEtcd{leader: "1"}
	leader, _, err = moveEtcdLeader(ctx, f, names, eps, "cp1", []string{"cp2", "cp3"})
	require.NoError(t, err)
	assert.Equal(t, "cp2", leader)
	assert.Equal(t, []string{"a:2379 -> 2"}, f.asked)

	// etcd not whole: nothing is moved, the error says why.
	f = &leaderEtcd{leader: "3", down: "b:2379"}
	_, moved, err = moveEtcdLeader(ctx, f, names, eps, "cp3", []string{"cp2", "cp1"})
	require.Error(t, err)
	assert.False(t, moved)
	assert.Contains(t, err.Error(), "b:2379 does not answer")
	assert.Empty(t, f.asked)

	// A refused transfer names both members and etcd's answer.
	f = &leaderEtcd{leader: "3", refuse: errors.New("etcdserver: leadership transfer timeout")}
	_, moved, err = moveEtcdLeader(ctx, f, names, eps, "cp3", []string{"cp2", "cp1"})
	require.Error(t, err)
	assert.True(t, moved)
	assert.Contains(t, err.Error(), "move etcd leadership from cp3 to cp2: etcdserver: leadership transfer timeout")

	// No member to hand over to.
	f = &leaderEtcd{leader: "3"}
	_, _, err = moveEtcdLeader(ctx, f, names, eps, "cp3", []string{"cp3", "cp9"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no other started etcd member to lead instead of cp3")
}
