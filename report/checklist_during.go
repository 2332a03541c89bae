package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

// RuleChecklistDuring names the check that judges the kube-system checklist
// while the upgrade ran, from the checklist watcher's timeline events.
const RuleChecklistDuring = "checklist-during-upgrade"

// DefaultMaxNotReady is the longest a checklist component may stay not
// Ready during a rehearsal. A control-plane component waits out the
// apiserver's restart under kubeadm upgrade apply and then its own static
// pod's recreation under the new kubelet: on a 2-core machine the
// scheduler measured 2m3s, so the bound is twice the 2 minutes that
// usually suffice.
const DefaultMaxNotReady = 4 * time.Minute

// Checklist watcher event kinds (see the checklist package's Watch).
const (
	clReady       = "ready"
	clNotReady    = "not-ready"
	clVersion     = "version"
	clRestart     = "restart"
	clRemoved     = "removed"
	clUnreachable = "unreachable"
	clReachable   = "reachable"
)

// sweeps are the checklist's items over many pods at once (every kube-system
// pod, every critical pod). Their spells of not Ready chain the restarts of
// different pods one after another (the static pods, then kube-proxy, then
// DNS), so their length says nothing about any one component: they are
// shown, and each component is judged on its own.
var sweeps = map[string]bool{"kube-system pods": true, "critical pods": true}

// RevertPhase is the name of the phase that brings the workers back to the
// cluster's original version after an aborted or finished upgrade.
const RevertPhase = "revert"

// ChecklistDuring judges the checklist events of a timeline (source
// "checklist": a component turning ready or not, restarting, changing
// version, going away; the API server unreachable and back).
//
// An in-place upgrade restarts the static pods and kube-proxy on purpose,
// drains and restarts nodes' kubelets, and briefly loses the API server:
// restarts, version changes and short spells of not Ready are expected and
// never fail on their own. What fails, naming the component:
//
//   - not Ready (or, for the API server, unreachable) for longer than the
//     rules' MaxNotReady without a break: from its not-ready event to its
//     next ready (or removed: a replaced node) event, or to the timeline's
//     last event when none came. A crash loop shows here, as a component
//     that does not come back;
//   - a version going back: the component Ready again, or a version event
//     while it is Ready, with a newest version older than the newest it
//     had when last Ready (a rollback or a component flapping between
//     releases). While the component is not Ready, its versions are those
//     of the pods that are there: a control plane's static pod recreated
//     under a new kubelet is missing for a moment, and the versions of
//     the others are no rollback, nor is a version gone with no new one
//     while the component is Ready (a pod missing for a moment: judged at
//     the next change). A node whose kubelet goes back during
//     the revert phase (upgrade.revert) is what the revert is for: the
//     revert's own check judges it.
//
// Whether every component reached the target version is the final
// checklist's finding, which sees every component; the timeline only sees
// changes. Restarts are counted in the item's message. A timeline with no
// checklist events gives no check (ok false).
func ChecklistDuring(events []Event, rules Rules) (Check, bool) {
	bound := rules.WithDefaults().MaxNotReady
	type state struct {
		since    time.Time // start of the not-ready spell, zero when ready
		longest  time.Duration
		spells   int
		restarts int
		versions []string
		back     []string
		open     bool
		// steady is the component's versions when it was last Ready;
		// current its versions now.
		steady, current string
	}
	var last time.Time
	seen := map[string]*state{}
	get := func(name string) *state {
		s := seen[name]
		if s == nil {
			s = &state{}
			seen[name] = s
		}
		return s
	}
	end := func(s *state, t time.Time) {
		if s.since.IsZero() {
			return
		}
		s.longest = max(s.longest, t.Sub(s.since))
		s.since = time.Time{}
	}
	reverting := false
	// settle compares the versions now with those when last Ready.
	settle := func(s *state, name string) {
		if s.current == "" {
			return
		}
		if s.steady != "" && older(s.current, s.steady) && !(reverting && strings.HasPrefix(name, "node/")) {
			s.back = append(s.back, s.steady+" -> "+s.current)
		}
		s.steady = s.current
	}
	for _, e := range events {
		last = maxTime(last, e.Time)
		if e.Source == timeline.SourcePhase && e.Subject == RevertPhase {
			reverting = e.Kind == "start"
		}
		if e.Source != timeline.SourceChecklist {
			continue
		}
		s := get(e.Subject)
		switch e.Kind {
		case clNotReady, clUnreachable:
			if s.since.IsZero() {
				s.since = e.Time
				s.spells++
			}
		case clReady, clReachable, clRemoved:
			end(s, e.Time)
			settle(s, e.Subject)
		case clRestart:
			s.restarts++
		case clVersion:
			from, to, ok := versionChange(e.Message)
			if !ok {
				continue
			}
			s.versions = append(s.versions, to)
			if s.steady == "" {
				s.steady = from
			}
			s.current = to
			// A version gone with none new is pods missing (a static
			// pod recreated under a new kubelet, a member stopped), not
			// pods going back: it is judged when the component is next
			// Ready or changes again.
			if s.since.IsZero() && !shrunk(from, to) {
				settle(s, e.Subject)
			}
		}
	}
	for name, s := range seen {
		if !s.since.IsZero() {
			// Not Ready at the end: its versions then are what it has.
			settle(s, name)
		}
	}
	if len(seen) == 0 {
		return Check{}, false
	}
	c := Check{Name: RuleChecklistDuring, Outcome: Pass}
	for _, name := range sortedKeys(seen) {
		s := seen[name]
		if !s.since.IsZero() {
			s.open = true
			end(s, last)
		}
		sweep := sweeps[name]
		it := CheckItem{Component: name, Outcome: Pass,
			Expected: fmt.Sprintf("not Ready at most %s at a time, no version going back", bound)}
		if sweep {
			it.Expected = "shown only: judged through its components"
		}
		var seenParts, problems []string
		if s.spells > 0 {
			p := fmt.Sprintf("not Ready %d times, longest %s", s.spells, s.longest.Round(100*time.Millisecond))
			if s.open {
				p += " (still not Ready at the end)"
			}
			seenParts = append(seenParts, p)
			if s.longest > bound && !sweep {
				problems = append(problems, fmt.Sprintf("not Ready for %s, longer than the %s allowed", s.longest.Round(100*time.Millisecond), bound))
			}
		}
		if s.restarts > 0 {
			seenParts = append(seenParts, fmt.Sprintf("%d restart events", s.restarts))
		}
		if len(s.versions) > 0 {
			seenParts = append(seenParts, "version "+strings.Join(s.versions, " then "))
		}
		if len(s.back) > 0 {
			problems = append(problems, "version went back: "+strings.Join(s.back, ", "))
		}
		it.Seen = strings.Join(seenParts, "; ")
		if len(problems) > 0 {
			it.Outcome = Fail
			it.Message = strings.Join(problems, "; ")
		}
		c.Items = append(c.Items, it)
	}
	var failed []string
	for _, it := range c.Items {
		if it.Outcome == Fail {
			failed = append(failed, it.Component+": "+it.Message)
		}
	}
	if len(failed) > 0 {
		c.Outcome = Fail
		c.Message = strings.Join(failed, "; ")
	} else {
		c.Message = fmt.Sprintf("%d components changed during the rehearsal; none stayed not Ready beyond %s or went back a version", len(c.Items), bound)
	}
	return c, true
}

// versionChange reads "NAME version A -> B" as the watcher writes it.
func versionChange(msg string) (from, to string, ok bool) {
	i := strings.Index(msg, " version ")
	if i < 0 {
		return "", "", false
	}
	from, to, ok = strings.Cut(msg[i+len(" version "):], " -> ")
	return strings.TrimSpace(from), strings.TrimSpace(to), ok
}

// older tells whether the newest version in list a is older than the
// newest in list b (lists as the checklist writes them, "v1.30.1,v1.31.0").
// Lists it cannot read are not older.
func older(a, b string) bool {
	va, vb := newest(a), newest(b)
	return va != nil && vb != nil && va.LessThan(vb)
}

func newest(list string) *version.Version {
	var best *version.Version
	parts := strings.Split(list, ",")
	sort.Strings(parts)
	for _, p := range parts {
		v, err := version.ParseGeneric(strings.TrimSpace(p))
		if err != nil {
			continue
		}
		if best == nil || best.LessThan(v) {
			best = v
		}
	}
	return best
}

// shrunk tells a version change that only lost versions ("v1.35.4,v1.36.3"
// to "v1.35.4"): some pods are missing, none came at another version.
func shrunk(from, to string) bool {
	had := map[string]bool{}
	for _, v := range strings.Split(from, ",") {
		had[strings.TrimSpace(v)] = true
	}
	for _, v := range strings.Split(to, ",") {
		if !had[strings.TrimSpace(v)] {
			return false
		}
	}
	return len(strings.Split(to, ",")) < len(had)
}
