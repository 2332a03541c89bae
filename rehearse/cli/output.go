package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// Every command follows kubectl's conventions for its output: -o/--output
// names a format, never a file; --out names a file or folder.

// Output formats of the commands that print data rather than a report.
const (
	formatText = "text"
	formatJSON = "json"
	formatYAML = "yaml"
)

// dataFormats are the formats of a command that prints data: text for
// people, JSON and YAML for programs.
var dataFormats = []string{formatText, formatJSON, formatYAML}

// addOutputFlag adds -o/--output with the formats known, the first the
// default.
func addOutputFlag(f *pflag.FlagSet, format *string, known []string) {
	*format = known[0]
	f.StringVarP(format, "output", "o", known[0], "output format: "+strings.Join(known, ", "))
}

// checkOutput refuses a format that is not known (exit 2).
func checkOutput(format string, known []string) error {
	if !slices.Contains(known, format) {
		return badInput(fmt.Errorf("--output: unknown format %q; known: %s", format, strings.Join(known, ", ")))
	}
	return nil
}

// writeData writes v as JSON or YAML, or calls text for the text format.
func writeData(w io.Writer, format string, v any, text func(io.Writer) error) error {
	switch format {
	case formatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case formatYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return text(w)
}
