package report

import (
	"encoding/json"
	"errors"
	"io"
)

// RenderJSON writes the report as indented JSON (schema: SchemaVersion).
func RenderJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func RenderText(w io.Writer, r *Report) error     { return errors.New("text: not yet") }
func RenderJUnit(w io.Writer, r *Report) error    { return errors.New("junit: not yet") }
func RenderMarkdown(w io.Writer, r *Report) error { return errors.New("markdown: not yet") }
func RenderHTML(w io.Writer, r *Report) error     { return errors.New("html: not yet") }
