package report

import (
	"encoding/json"
	"io"
)

// RenderJSON writes the report as indented JSON (schema: SchemaVersion).
func RenderJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
