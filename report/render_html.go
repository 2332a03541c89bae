package report

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
)

// The HTML report is one self-contained file: inline stylesheet, inline SVG
// plots drawn with gonum/plot, no scripts, no fonts or images fetched. Go
// code builds the view model (html_view.go) and draws the plots
// (html_plots.go); the template in templates/ lays out the page.

var (
	//go:embed templates/report.html.tmpl
	htmlTemplate string
	//go:embed templates/report.css
	htmlStylesheet string
)

var htmlPage = template.Must(template.New("report.html").Parse(htmlTemplate))

// RenderHTML writes the report as one self-contained HTML page: verdict,
// checks, comparisons, plots of latency and failures over time, the latency
// distributions, and the tables behind them.
func RenderHTML(w io.Writer, r *Report) error {
	if r == nil {
		return errors.New("html: no report")
	}
	v := buildHTMLView(r)
	var buf bytes.Buffer
	if err := htmlPage.Execute(&buf, v); err != nil {
		return fmt.Errorf("html: %w", err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// htmlPhaseColours are the phase colours as CSS values, for the template's
// one class per phase colour.
func htmlPhaseColours() []template.CSS {
	out := make([]template.CSS, len(htmlPhasePalette))
	for i, c := range htmlPhasePalette {
		out[i] = template.CSS(fmt.Sprintf("#%02X%02X%02X", c.R, c.G, c.B))
	}
	return out
}
