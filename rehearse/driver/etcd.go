package driver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/readiness"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

// etcdStep waits, after a control plane's upgrade, for the cluster's etcd
// to be whole again: one started voting member per control plane, every
// member answering, all agreeing on one leader.
const etcdStep = "etcd members healthy"

// The client certificate kubeadm makes on every control plane for etcd's
// health checks, and etcd's CA.
const (
	etcdCA         = "/etc/kubernetes/pki/etcd/ca.crt"
	etcdClientCert = "/etc/kubernetes/pki/etcd/healthcheck-client.crt"
	etcdClientKey  = "/etc/kubernetes/pki/etcd/healthcheck-client.key"
	etcdClientPort = "2379"
)

// EtcdMember is one member of etcd's cluster as its members see it.
type EtcdMember struct {
	ID      string `json:"ID"`
	Name    string `json:"name"`
	Learner bool   `json:"isLearner"`
	// Leader is the leader this member's endpoint reports; empty when it
	// did not answer.
	Leader string `json:"-"`
	// Version is the etcd version its endpoint reports.
	Version string `json:"-"`
}

// EtcdHealth is what the etcd endpoints of the control planes said.
type EtcdHealth struct {
	Members []EtcdMember
	Leader  string // the member ID every endpoint agreed on
	Leaders string // name of the leader
}

func (h EtcdHealth) String() string {
	return fmt.Sprintf("%d members started, leader %s", len(h.Members), h.Leaders)
}

// etcdAPI reaches etcd's JSON gateway (the v3 API over HTTP, on by
// default) of one endpoint; a narrow interface so the health rule is
// tested without etcd.
type etcdAPI interface {
	// post sends in (nil: an empty request) as JSON and decodes the
	// answer into out.
	post(ctx context.Context, endpoint, path string, in, out any) error
}

type etcdHTTP struct{ c *http.Client }

func (e etcdHTTP) post(ctx context.Context, endpoint, path string, in, out any) error {
	body := []byte("{}")
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+endpoint+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := e.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s%s: %s: %s", endpoint, path, resp.Status, firstLineOf(string(bytes.TrimSpace(b))))
	}
	return json.Unmarshal(b, out)
}

// etcdClient makes the client of a cluster's etcd from the CA and the
// health-check client certificate of one control plane (read from the
// node, held in memory only).
func etcdClient(ctx context.Context, r NodeRunner, node string) (etcdAPI, error) {
	read := func(path string) ([]byte, error) {
		out, err := r.Exec(ctx, node, "cat", path)
		if err != nil {
			return nil, fmt.Errorf("read %s on %s", path, node)
		}
		return []byte(out), nil
	}
	ca, err := read(etcdCA)
	if err != nil {
		return nil, err
	}
	cert, err := read(etcdClientCert)
	if err != nil {
		return nil, err
	}
	key, err := read(etcdClientKey)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("etcd client certificate of %s: %w", node, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("etcd CA of %s: no certificate", node)
	}
	return etcdHTTP{c: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
	}}}, nil
}

// checkEtcd asks every endpoint for the member list and its status. It is
// healthy when the list holds want started voting members, every endpoint
// answers, and all report the same leader, a member of the list; otherwise
// the error says what is not so.
func checkEtcd(ctx context.Context, api etcdAPI, endpoints []string, want int) (EtcdHealth, error) {
	var h EtcdHealth
	var list struct {
		Members []EtcdMember `json:"members"`
	}
	var errs []string
	for _, ep := range endpoints {
		if err := api.post(ctx, ep, "/v3/cluster/member/list", nil, &list); err == nil {
			break
		} else {
			errs = append(errs, err.Error())
		}
	}
	if list.Members == nil {
		return h, fmt.Errorf("no endpoint lists the members: %s", strings.Join(errs, "; "))
	}
	var problems []string
	names := map[string]string{}
	for _, m := range list.Members {
		switch {
		case m.Name == "":
			problems = append(problems, fmt.Sprintf("member %s not started", m.ID))
		case m.Learner:
			problems = append(problems, fmt.Sprintf("member %s is a learner", m.Name))
		}
		names[m.ID] = m.Name
	}
	if len(list.Members) != want {
		problems = append(problems, fmt.Sprintf("%d members, want %d (one per control plane)", len(list.Members), want))
	}
	leaders := map[string]bool{}
	for _, ep := range endpoints {
		var st struct {
			Header struct {
				MemberID string `json:"member_id"`
			} `json:"header"`
			Version string `json:"version"`
			Leader  string `json:"leader"`
		}
		if err := api.post(ctx, ep, "/v3/maintenance/status", nil, &st); err != nil {
			problems = append(problems, fmt.Sprintf("%s does not answer: %v", ep, err))
			continue
		}
		leaders[st.Leader] = true
		for i := range list.Members {
			if list.Members[i].ID == st.Header.MemberID {
				list.Members[i].Leader, list.Members[i].Version = st.Leader, st.Version
			}
		}
	}
	switch {
	case len(leaders) > 1:
		problems = append(problems, fmt.Sprintf("members disagree on the leader: %s", strings.Join(sortedKeys(leaders), ", ")))
	case len(leaders) == 1:
		for l := range leaders {
			h.Leader = l
		}
		if h.Leader == "" || h.Leader == "0" {
			problems = append(problems, "no leader")
		} else if names[h.Leader] == "" {
			problems = append(problems, fmt.Sprintf("the leader %s is not a started member", h.Leader))
		}
		h.Leaders = names[h.Leader]
	}
	h.Members = list.Members
	if len(problems) > 0 {
		return h, errors.New(strings.Join(problems, "; "))
	}
	return h, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// controlPlaneEndpoints are the etcd client endpoints of the control-plane
// nodes (their internal addresses, port 2379).
func controlPlaneEndpoints(ctx context.Context, client kubernetes.Interface, cps []string) ([]string, error) {
	var out []string
	for _, name := range cps {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", name, err)
		}
		ip := ""
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ip = a.Address
				break
			}
		}
		if ip == "" {
			return nil, fmt.Errorf("node %s has no internal address", name)
		}
		out = append(out, net.JoinHostPort(ip, etcdClientPort))
	}
	return out, nil
}

// etcdOf is the client of the etcd of control planes cps (with the first
// one's certificate) and their endpoints, in the order of cps.
func (k *Kubeadm) etcdOf(ctx context.Context, env Env, cps []string) (etcdAPI, []string, error) {
	endpoints, err := controlPlaneEndpoints(ctx, env.Client, cps)
	if err != nil {
		return nil, nil, err
	}
	api, err := etcdClient(ctx, k.runner(env), cps[0])
	if err != nil {
		return nil, nil, err
	}
	return api, endpoints, nil
}

// etcdHealthy waits until the etcd of the control planes cps is healthy
// (see checkEtcd), within timeout, then puts the members and the leader
// on the timeline.
func (k *Kubeadm) etcdHealthy(cps []string) Func {
	return func(ctx context.Context, env Env) error {
		api, endpoints, err := k.etcdOf(ctx, env, cps)
		if err != nil {
			return err
		}
		var h EtcdHealth
		err = readiness.WaitFor(ctx, readiness.Options{Interval: time.Second, Timeout: k.s.ReadyTimeout}, func(ctx context.Context) (bool, string, error) {
			var cerr error
			h, cerr = checkEtcd(ctx, api, endpoints, len(cps))
			if cerr != nil {
				return false, cerr.Error(), nil
			}
			return true, h.String(), nil
		})
		if err != nil {
			return fmt.Errorf("etcd not healthy within %s: %w", k.s.ReadyTimeout, err)
		}
		var members []string
		for _, m := range h.Members {
			members = append(members, m.Name+" "+m.Version)
		}
		if env.Emit != nil {
			env.Emit.Emit(timeline.Event{Time: time.Now(), Source: timeline.SourceDriver, Kind: "etcd", Subject: h.Leaders, Outcome: "healthy",
				Message: fmt.Sprintf("etcd: %s (%s)", h, strings.Join(members, ", "))})
		}
		fmt.Fprintf(logOf(env), "etcd: %s (%s)\n", h, strings.Join(members, ", "))
		return nil
	}
}

// etcdLeaderStep moves, with several control planes, etcd's leadership off
// a control plane before its upgrade. Its upgrade restarts its etcd member
// (the new manifest, then the new kubelet recreating its static pods):
// when that member leads, every restart is an election, and for its
// length writes stall cluster-wide, node leases and statuses among them.
// An operator moves the leader first (etcdctl move-leader); so does the
// driver.
const etcdLeaderStep = "move etcd leadership off the node"

// moveEtcdLeader makes sure the member of node does not lead: when it
// does, it asks it (the leader alone can hand over) to hand leadership to
// another started member, the first of prefer that is one. names and
// endpoints are the control planes and their etcd endpoints, in the same
// order (kubeadm names each member after its node). It returns the leader
// after the call; moved says whether it asked for a move.
func moveEtcdLeader(ctx context.Context, api etcdAPI, names, endpoints []string, node string, prefer []string) (leader string, moved bool, err error) {
	h, err := checkEtcd(ctx, api, endpoints, len(names))
	if err != nil {
		return "", false, err
	}
	if h.Leaders != node {
		return h.Leaders, false, nil
	}
	from := slices.Index(names, node)
	if from < 0 {
		return "", false, fmt.Errorf("%s is not a control plane", node)
	}
	ids := map[string]string{}
	for _, m := range h.Members {
		ids[m.Name] = m.ID
	}
	for _, to := range prefer {
		if to == node || ids[to] == "" {
			continue
		}
		var out struct{}
		if err := api.post(ctx, endpoints[from], "/v3/maintenance/transfer-leadership", map[string]string{"targetID": ids[to]}, &out); err != nil {
			return node, true, fmt.Errorf("move etcd leadership from %s to %s: %w", node, to, err)
		}
		return to, true, nil
	}
	return node, false, fmt.Errorf("no other started etcd member to lead instead of %s", node)
}

// etcdLeaderOff is the action of etcdLeaderStep for control plane node of
// cps: leadership goes to a control plane already upgraded (the nearest
// before node) or else the next one, and the step ends once the members
// agree on a leader other than node.
func (k *Kubeadm) etcdLeaderOff(cps []string, node string) Func {
	return func(ctx context.Context, env Env) error {
		api, endpoints, err := k.etcdOf(ctx, env, cps)
		if err != nil {
			return err
		}
		at := slices.Index(cps, node)
		var prefer []string
		for i := at - 1; i >= 0; i-- {
			prefer = append(prefer, cps[i])
		}
		prefer = append(prefer, cps[at+1:]...)
		var last string
		asked := false
		err = readiness.WaitFor(ctx, readiness.Options{Interval: time.Second, Timeout: k.s.ReadyTimeout}, func(ctx context.Context) (bool, string, error) {
			leader, moved, merr := moveEtcdLeader(ctx, api, cps, endpoints, node, prefer)
			asked = asked || moved
			last = leader
			if merr != nil {
				return false, merr.Error(), nil
			}
			if moved {
				return false, fmt.Sprintf("asked %s to hand etcd leadership to %s", node, leader), nil
			}
			return true, "etcd leader " + leader, nil
		})
		if err != nil {
			return fmt.Errorf("etcd leadership not off %s within %s: %w", node, k.s.ReadyTimeout, err)
		}
		msg := fmt.Sprintf("etcd leader %s: %s does not lead, nothing to move", last, node)
		outcome := "leader-kept"
		if asked {
			msg = fmt.Sprintf("etcd leadership moved from %s to %s before its upgrade", node, last)
			outcome = "leader-moved"
		}
		if env.Emit != nil {
			env.Emit.Emit(timeline.Event{Time: time.Now(), Source: timeline.SourceDriver, Kind: "etcd", Subject: node, Outcome: outcome, Message: msg})
		}
		fmt.Fprintln(logOf(env), msg)
		return nil
	}
}
