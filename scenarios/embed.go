package scenarios

import _ "embed"

//go:embed default.yaml
var defaultYAML []byte

// DefaultName is the name of the embedded default scenario in messages.
const DefaultName = "default scenario (embedded)"

// Default returns the embedded default scenario, with overrides applied.
func Default(sets ...string) (*Scenario, error) { return Loader{}.Default(sets...) }

// DefaultYAML returns the embedded default scenario's text.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }
