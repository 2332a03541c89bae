package loadgen

import (
	"net/http"
	"sync"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Rotation is the set of targets requests go to, round-robin. It may change
// while an attack runs, the way a load balancer takes a node out of service
// and puts it back.
type Rotation struct {
	mu      sync.Mutex
	targets []string
	next    int
}

// NewRotation starts a rotation over targets.
func NewRotation(targets []string) *Rotation {
	return &Rotation{targets: append([]string(nil), targets...)}
}

// Set replaces the targets in rotation.
func (r *Rotation) Set(targets []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.targets = append([]string(nil), targets...)
}

// Targets returns the targets in rotation now.
func (r *Rotation) Targets() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.targets...)
}

func (r *Rotation) pick() (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.targets) == 0 {
		return "", false
	}
	t := r.targets[r.next%len(r.targets)]
	r.next++
	return t, true
}

// targeter returns a vegeta targeter that walks the rotation with GET
// requests. An empty rotation yields a failed request (to the unresolvable
// host rotation.invalid) rather than stopping the attack.
func (r *Rotation) targeter() vegeta.Targeter {
	return r.targeterWith(func(u string) vegeta.Target {
		return vegeta.Target{Method: http.MethodGet, URL: u}
	})
}

// invalidTarget is where a request goes when the rotation is empty.
const invalidTarget = "http://rotation.invalid/"

// targeterWith returns a vegeta targeter that walks the rotation, building
// each request for the URL picked. An empty rotation builds the request
// for invalidTarget, which fails, rather than stopping the attack.
func (r *Rotation) targeterWith(build func(u string) vegeta.Target) vegeta.Targeter {
	return func(t *vegeta.Target) error {
		u, ok := r.pick()
		if !ok {
			// An unroutable request keeps the schedule and records the gap.
			u = invalidTarget
		}
		*t = build(u)
		return nil
	}
}
