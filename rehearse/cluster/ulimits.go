package cluster

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

type containersConf struct {
	Containers struct {
		DefaultUlimits []string `toml:"default_ulimits"`
	} `toml:"containers"`
	Engine struct {
		Runtime string `toml:"runtime"`
	} `toml:"engine"`
}

// readUlimits parses containers.conf and returns its default_ulimits.
func readUlimits(data []byte) ([]string, error) {
	var c containersConf
	if err := decodeConf(string(data), &c); err != nil {
		return nil, err
	}
	return c.Containers.DefaultUlimits, nil
}

func decodeConf(data string, c *containersConf) error {
	_, err := toml.Decode(data, c)
	return err
}

// missingUlimits names the rlimits (nofile, nproc) not set.
func missingUlimits(have []string) []string {
	set := map[string]bool{}
	for _, u := range have {
		name, _, _ := strings.Cut(u, "=")
		set[strings.TrimSpace(name)] = true
	}
	var missing []string
	for _, want := range PodmanUlimits {
		name, _, _ := strings.Cut(want, "=")
		if !set[name] {
			missing = append(missing, name)
		}
	}
	return missing
}

func tomlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// mergeUlimits sets default_ulimits in the [containers] table of a
// containers.conf, keeping everything else (comments included) as it is.
// Rlimits already set for other resources are kept; nofile and nproc take
// the given values. Merging twice gives the same file.
func mergeUlimits(data []byte, want []string) ([]byte, error) {
	have, err := readUlimits(data)
	if err != nil {
		return nil, err
	}
	wanted := map[string]bool{}
	for _, w := range want {
		name, _, _ := strings.Cut(w, "=")
		wanted[name] = true
	}
	values := append([]string{}, want...)
	for _, h := range have {
		name, _, _ := strings.Cut(h, "=")
		if !wanted[strings.TrimSpace(name)] {
			values = append(values, h)
		}
	}
	merged := setTOMLKey(data, "containers", "default_ulimits", tomlStrings(values))
	if got, err := readUlimits(merged); err != nil {
		return nil, fmt.Errorf("merged file does not parse: %w", err)
	} else if len(missingUlimits(got)) > 0 {
		return nil, fmt.Errorf("merged file lacks %v", missingUlimits(got))
	}
	return merged, nil
}

func isKey(line, key string) bool {
	if !strings.HasPrefix(line, key) {
		return false
	}
	rest := strings.TrimSpace(line[len(key):])
	return strings.HasPrefix(rest, "=")
}

// setTOMLKey sets key = value in a table of a TOML file, keeping everything
// else (comments included) as it is: it replaces the key's old value (even
// one spanning several lines) or adds the key at the end of the table, or
// adds the table at the end of the file.
func setTOMLKey(data []byte, table, key, value string) []byte {
	line := key + " = " + value
	header := "[" + table + "]"
	var lines, out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	inTable, done := false, false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			if inTable && !done {
				// Put the key after the table's last non-blank line.
				j := len(out)
				for j > 0 && strings.TrimSpace(out[j-1]) == "" {
					j--
				}
				out = append(out[:j], append([]string{line}, out[j:]...)...)
				done = true
			}
			inTable = t == header
		}
		if inTable && !done && isKey(t, key) {
			// Skip the old value, which may span several lines.
			for depth := strings.Count(l, "[") - strings.Count(l, "]"); depth > 0 && i+1 < len(lines); {
				i++
				depth += strings.Count(lines[i], "[") - strings.Count(lines[i], "]")
			}
			out = append(out, line)
			done = true
			continue
		}
		out = append(out, l)
	}
	if !done {
		if inTable {
			out = append(out, line)
		} else {
			if len(out) > 0 && strings.TrimSpace(out[len(out)-1]) != "" {
				out = append(out, "")
			}
			out = append(out, header, line)
		}
	}
	return []byte(strings.Join(out, "\n") + "\n")
}
