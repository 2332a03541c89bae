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
// Checks from outside the traffic (the upgrade, the final checklist with its
// components, a damaged results file) count in the verdict beside the
// comparisons, and every renderer shows them. The HTML page is drawn by
// templates/report.html.tmpl from a view model built in Go, with plots
// drawn by gonum/plot as inline SVG.
package report
