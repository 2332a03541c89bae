// Package report turns recorded load results into metrics, compares a
// baseline phase with a candidate phase, judges the difference, and renders
// the outcome as terminal text, JSON, JUnit XML, Markdown and HTML.
//
// Results flow through a Collector as they arrive, into fixed-size
// structures: HDR histograms and a fixed-size uniform sample per phase, and
// per-second windows that are handed out as they close. Statistics are computed
// when the collector closes, and the verdict is a pure function of the closed
// metrics and the rules.
//
// The collector also follows failures per stream (probe kind or user
// target), per entry point (request URL) and per node (X-Canary-Node), each
// bounded to MaxStreams names: counts, outages and error bursts. Judge
// judges each of them against its own baseline (SubjectResult), so a part
// of the traffic that failed fails the verdict even when the whole looks
// healthy. Report.SetTimeline ties the outages and bursts to the upgrade
// steps running when they began (Incident) and judges the checklist's
// events during the rehearsal (ChecklistDuring).
//
// Checks from outside the traffic (the upgrade, the final checklist with its
// components, a damaged results file) count in the verdict beside the
// comparisons, and every renderer shows them. The HTML page is drawn by
// templates/report.html.tmpl from a view model built in Go, with plots
// drawn by gonum/plot as inline SVG.
package report
