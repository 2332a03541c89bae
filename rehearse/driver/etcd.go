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
	post(ctx context.Context, endpoint, path string, out any) error
}

type etcdHTTP struct{ c *http.Client }

func (e etcdHTTP) post(ctx context.Context, endpoint, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+endpoint+path, strings.NewReader("{}"))
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
		if err := api.post(ctx, ep, "/v3/cluster/member/list", &list); err == nil {
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
		if err := api.post(ctx, ep, "/v3/maintenance/status", &st); err != nil {
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

// etcdHealthy waits until the etcd of the control planes cps is healthy
// (see checkEtcd), within timeout, then puts the members and the leader
// on the timeline.
func (k *Kubeadm) etcdHealthy(cps []string) Func {
	return func(ctx context.Context, env Env) error {
		endpoints, err := controlPlaneEndpoints(ctx, env.Client, cps)
		if err != nil {
			return err
		}
		api, err := etcdClient(ctx, k.runner(env), cps[0])
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
