// Package loadgen generates open-loop, constant-rate HTTP load on the vegeta
// library and records every result.
//
// One Attack runs one continuous stream of requests per probe kind (reused
// keep-alive connections and a fresh connection per request) against a
// rotation of targets. Each result is tagged with the phase in force when its
// request was sent (the caller switches phases with SetPhase, without a gap in
// traffic), handed to the caller's sinks as it arrives, and, through a
// Recorder, streamed to disk in vegeta's own results encoding so that
// `vegeta report` and `vegeta plot` read the files as they are.
//
// Beside the canary's probes, or instead of them, an attack loads the user's
// applications: each Target is a stream of its own (its own attacker and
// pacer at its weighted share of the rate) whose results carry the probe
// "target:NAME" (TargetProbe). A target's response that breaks its Expect
// fails with an error starting with "expect: ".
//
// The phase and probe of a result travel in vegeta's Attack field as
// "phase/probe" (see AttackName and SplitAttack); the target is the URL field.
//
// A HealthCheck keeps a Rotation equal to the targets that answer, the way a
// load balancer in front of the nodes does, and records each change.
package loadgen
