package driver

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

// fakeFleet makes fake clusters whose workloads turn ready at once.
type fakeFleet struct {
	made    []string
	deleted []string
	live    string
	clients map[string]*fake.Clientset
}

func (f *fakeFleet) Create(_ context.Context, name, version string) (*ClusterRef, error) {
	f.made = append(f.made, name+"@"+version)
	c := fake.NewClientset()
	// Workloads created on the new cluster come up at once, as their
	// controllers would make them.
	c.PrependReactor("create", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		d := a.(k8stesting.CreateAction).GetObject().(*appsv1.Deployment)
		n := *d.Spec.Replicas
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		return false, nil, nil
	})
	f.clients[name] = c
	return &ClusterRef{Name: name, Client: c}, nil
}

func (f *fakeFleet) Delete(_ context.Context, name string) error {
	f.deleted = append(f.deleted, name)
	return nil
}

func (f *fakeFleet) SetLive(c *ClusterRef) { f.live = c.Name }

// fakeTraffic gives each cluster one entry point and records switches.
type fakeTraffic struct {
	entries  map[string]string
	switches []string
}

func (t *fakeTraffic) EntryPoints(_ context.Context, c *ClusterRef) ([]string, error) {
	return []string{t.entries[c.Name]}, nil
}

func (t *fakeTraffic) Switch(targets []string, why string) {
	t.switches = append(t.switches, why+" "+strings.Join(targets, ","))
}

func (t *fakeTraffic) Namespaces() []string { return []string{"app"} }

func appCluster() *fake.Clientset {
	return fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "app"},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(int32(2))},
		},
	)
}

func TestBlueGreenPlan(t *testing.T) {
	b, err := NewBlueGreen(BlueGreenSettings{Settle: 10 * time.Second, Rollback: true})
	require.NoError(t, err)
	p, err := b.Plan(context.Background(), Env{ClusterName: "blue", Shape: &Shape{Version: "v1.35.4"}}, "v1.36.3")
	require.NoError(t, err)
	var names []string
	for _, s := range p.Leaves() {
		names = append(names, s.Name)
	}
	assert.Equal(t, []string{
		"create cluster blue-b at v1.36.3",
		"copy workloads blue → blue-b",
		"wait for workloads and node ports on blue-b",
		"smoke test (pre-live) through blue-b's node ports",
		"switch traffic blue → blue-b",
		"settle 10s on blue-b",
		"switch traffic blue-b → blue",
		"settle 10s on blue",
		"switch traffic blue → blue-b",
		"settle 10s on blue-b",
		"delete cluster blue",
	}, names)
	var out bytes.Buffer
	require.NoError(t, p.Render(&out))
	assert.Contains(t, out.String(), "blue-green swap from v1.35.4 to v1.36.3")

	noRollback, _ := NewBlueGreen(BlueGreenSettings{})
	p, err = noRollback.Plan(context.Background(), Env{ClusterName: "blue", Shape: &Shape{Version: "v1.35.4"}}, "v1.36.3")
	require.NoError(t, err)
	assert.Len(t, p.Leaves(), 7, "no rollback rehearsal: create, copy, wait, smoke, switch, settle, delete")

	_, err = noRollback.Plan(context.Background(), Env{}, "v1.36.3")
	assert.ErrorContains(t, err, "no name")
}

func TestBlueGreenUpgrade(t *testing.T) {
	serve := func(code int) *httptest.Server {
		// Health checks pass; the application answers code.
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" {
				return
			}
			w.WriteHeader(code)
		}))
		t.Cleanup(s.Close)
		return s
	}
	tests := []struct {
		name         string
		greenCode    int
		wantErr      string
		wantSwitches []string
		wantDeleted  []string
		wantLive     string
	}{
		{
			name: "swap with rollback rehearsal", greenCode: http.StatusOK,
			wantSwitches: []string{"traffic blue → blue-b G", "traffic blue-b → blue A", "traffic blue → blue-b G"},
			wantDeleted:  []string{"blue"}, wantLive: "blue-b",
		},
		{
			name: "green fails its smoke test: never goes live", greenCode: http.StatusServiceUnavailable,
			wantErr: "smoke test (pre-live)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blue, green := serve(http.StatusOK), serve(tt.greenCode)
			fl := &fakeFleet{clients: map[string]*fake.Clientset{}}
			tr := &fakeTraffic{entries: map[string]string{"blue": blue.URL, "blue-b": green.URL}}
			a := appCluster()
			b, err := NewBlueGreen(BlueGreenSettings{Settle: 10 * time.Millisecond, Rollback: true, SmokeRequests: 3, ReadyTimeout: 5 * time.Second})
			require.NoError(t, err)
			env := Env{ClusterName: "blue", Client: a, Fleet: fl, Traffic: tr}
			plan, err := b.Plan(context.Background(), Env{ClusterName: "blue", Shape: &Shape{Version: "v1.35.4"}}, "v1.36.3")
			require.NoError(t, err)
			rec := timeline.NewRecorder(io.Discard)
			err = plan.Execute(context.Background(), env, rec)
			assert.Equal(t, []string{"blue-b@v1.36.3"}, fl.made)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Empty(t, tr.switches, "a cluster that fails its smoke test takes no traffic")
				assert.Empty(t, fl.deleted, "A stays when B is not good")
				return
			}
			require.NoError(t, err)
			var want []string
			for _, s := range tt.wantSwitches {
				want = append(want, strings.NewReplacer(" G", " "+green.URL, " A", " "+blue.URL).Replace(s))
			}
			assert.Equal(t, want, tr.switches)
			assert.Equal(t, tt.wantDeleted, fl.deleted)
			assert.Equal(t, tt.wantLive, fl.live)
			// The workload reached B.
			_, err = fl.clients["blue-b"].AppsV1().Deployments("app").Get(context.Background(), "web", metav1.GetOptions{})
			assert.NoError(t, err)
			// Every step started and ended on the timeline, in order.
			var ends []string
			for _, e := range rec.Events() {
				if e.Kind == "end" {
					assert.Equal(t, "ok", e.Outcome, e.Message)
					ends = append(ends, e.Message)
				}
			}
			assert.Len(t, ends, len(plan.Leaves()))
			assert.Equal(t, "delete cluster blue", ends[len(ends)-1])
		})
	}
}

func TestBlueGreenNeedsFleetAndTraffic(t *testing.T) {
	b, _ := NewBlueGreen(BlueGreenSettings{})
	plan, err := b.Plan(context.Background(), Env{ClusterName: "blue", Shape: &Shape{Version: "v1.35.4"}}, "v1.36.3")
	require.NoError(t, err)
	err = plan.Execute(context.Background(), Env{ClusterName: "blue", Client: appCluster()}, timeline.Discard)
	assert.ErrorContains(t, err, "fleet")
}
