package report

import "fmt"

// incidentHead and incidentCells are the incidents table every renderer
// shows: when, what failed, how many requests were lost, and the upgrade
// step it is tied to.
var incidentHead = []string{"Start", "Phase", "Kind", "Seconds", "Where", "Lost", "Step", "First error"}

func incidentCells(in Incident) []string {
	cause := in.Cause()
	if cause == "" {
		cause = "-"
	}
	return []string{in.Start.UTC().Format("15:04:05.000"), in.Phase, in.Kind, fmt.Sprintf("%.1f", in.Seconds),
		in.Where(), fmt.Sprintf("%d", in.Lost), cause, in.FirstError}
}

// subjectHead and subjectCells are the table of a comparison's streams,
// entry points and nodes that failed a rule.
var subjectHead = []string{"Subject", "Against", "Rule", "Message"}

// failedSubjectRules lists each failed rule of a subject as table cells.
func failedSubjectRules(c Comparison) [][]string {
	var out [][]string
	for _, s := range c.Subjects {
		for _, rr := range s.Rules {
			if rr.Outcome == Fail {
				out = append(out, []string{s.Label(), s.Against, rr.Rule, rr.Message})
			}
		}
	}
	return out
}

// subjectsLine says how many streams, entry points and nodes were judged
// and how many failed, or "" when none were judged on their own.
func subjectsLine(c Comparison) string {
	if len(c.Subjects) == 0 {
		return ""
	}
	return fmt.Sprintf("Streams, entry points and nodes judged on their own: %d, %d failed", len(c.Subjects), subjectsFailed(c.Subjects))
}
