package rehearse

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/readiness"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

// followEvery is how often the node follower lists the cluster's nodes.
const followEvery = 2 * time.Second

// nodeFollower keeps the load's entry points equal to the cluster's nodes
// while drivers add and remove them (node replacement, a kops rolling
// update under exec): a node that joins is added to every node-port entry
// set once it is Ready, and a node whose Node object is deleted is retired
// at once, so no request goes to its address after it is gone. A node that
// is only cordoned, drained or NotReady stays: what the traffic sees then is
// what the rehearsal measures. The API server being away (a control plane
// upgrade) changes nothing.
type nodeFollower struct {
	client func() kubernetes.Interface
	emit   timeline.Emitter
	every  time.Duration
	sets   []*entrySet
	// nodes are the nodes in the entry points, by name, with their address;
	// initial the addresses the load started with, not yet matched to a
	// node.
	nodes   map[string]string
	initial map[string]bool
	polled  bool
	// excluded are the nodes that carried the label excluding them from
	// load balancers when the load started (kubeadm's control planes do):
	// the label counts only when it comes later.
	excluded map[string]bool
}

// entrySet is one target's node-port entry points: http://IP:Port/ on
// every node, sent whole on Follow whenever the nodes change.
type entrySet struct {
	Port   int
	Follow chan []string
}

// newEntrySet returns the entry set of the node port of the given URLs
// (http://IP:PORT/ on each node).
func newEntrySet(urls []string) (*entrySet, error) {
	if len(urls) == 0 {
		return nil, fmt.Errorf("no entry points to follow")
	}
	u, err := url.Parse(urls[0])
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return nil, fmt.Errorf("entry point %s has no port", urls[0])
	}
	return &entrySet{Port: port, Follow: make(chan []string, 1)}, nil
}

// newNodeFollower follows the nodes whose addresses are in initial (the
// entry points the load starts with).
func newNodeFollower(client func() kubernetes.Interface, emit timeline.Emitter, initial []string, sets ...*entrySet) *nodeFollower {
	f := &nodeFollower{client: client, emit: emit, every: followEvery, sets: sets, nodes: map[string]string{}, initial: map[string]bool{}}
	for _, u := range initial {
		if p, err := url.Parse(u); err == nil {
			f.initial[p.Hostname()] = true
		}
	}
	return f
}

// run follows the nodes until ctx ends.
func (f *nodeFollower) run(ctx context.Context) {
	t := time.NewTicker(f.every)
	defer t.Stop()
	for {
		f.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll lists the nodes once and sends new entry points when they changed.
func (f *nodeFollower) poll(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := f.client().CoreV1().Nodes().List(lctx, metav1.ListOptions{})
	if err != nil {
		return // the API server is away (a control plane upgrade): keep what we have
	}
	seen := map[string]corev1.Node{}
	if f.excluded == nil {
		f.excluded = map[string]bool{}
	}
	for _, n := range list.Items {
		// A node excluded from load balancers once the load runs (about
		// to be removed, as a node replacement or a cloud's node group
		// marks it) leaves the rotation as a deleted one does.
		if _, out := n.Labels[corev1.LabelNodeExcludeBalancers]; out {
			if !f.polled {
				f.excluded[n.Name] = true
			} else if !f.excluded[n.Name] {
				continue
			}
		}
		seen[n.Name] = n
	}
	changed := false
	for name, ip := range f.nodes {
		if _, ok := seen[name]; !ok {
			delete(f.nodes, name)
			changed = true
			f.emit.Emit(timeline.Event{Time: time.Now(), Source: timeline.SourceRotation, Kind: "node-gone", Subject: name,
				Message: fmt.Sprintf("node %s (%s) was deleted or excluded from load balancers (%s): its entry points leave the rotation", name, ip, corev1.LabelNodeExcludeBalancers)})
		}
	}
	for _, name := range sortedNames(seen) {
		n := seen[name]
		ip := internalIP(n)
		if ip == "" {
			continue
		}
		if old, ok := f.nodes[name]; ok {
			if old != ip {
				f.nodes[name] = ip
				changed = true
			}
			continue
		}
		switch {
		case f.initial[ip] && !f.polled:
			// One of the nodes the load started with.
			f.nodes[name] = ip
			delete(f.initial, ip)
		case readiness.NodeReady(&n):
			f.nodes[name] = ip
			changed = true
			f.emit.Emit(timeline.Event{Time: time.Now(), Source: timeline.SourceRotation, Kind: "node-joined", Subject: name,
				Message: fmt.Sprintf("node %s (%s) joined and is Ready: its entry points join the rotation once they pass their checks", name, ip)})
		}
	}
	if !f.polled {
		// Addresses the load started with whose node is already gone.
		f.polled = true
		for ip := range f.initial {
			changed = true
			f.emit.Emit(timeline.Event{Time: time.Now(), Source: timeline.SourceRotation, Kind: "node-gone", Subject: ip,
				Message: fmt.Sprintf("no node has address %s any more: its entry points leave the rotation", ip)})
		}
		f.initial = nil
	}
	if changed {
		f.send()
	}
}

// send gives every entry set its URLs on the nodes followed, by node name;
// a list not yet taken is replaced by the newer one.
func (f *nodeFollower) send() {
	names := make([]string, 0, len(f.nodes))
	for n := range f.nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, s := range f.sets {
		urls := make([]string, 0, len(names))
		for _, n := range names {
			urls = append(urls, "http://"+net.JoinHostPort(f.nodes[n], strconv.Itoa(s.Port))+"/")
		}
		for {
			select {
			case s.Follow <- urls:
			default:
				select {
				case <-s.Follow: // drop the stale list
				default:
				}
				continue
			}
			break
		}
	}
}

func sortedNames(nodes map[string]corev1.Node) []string {
	out := make([]string, 0, len(nodes))
	for n := range nodes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// internalIP is a node's internal address, or "".
func internalIP(n corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}
