package cluster

import (
	"strings"
	"testing"
)

func TestMergeUlimits(t *testing.T) {
	want := `default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]`
	tests := []struct {
		name, in string
		contains []string
		absent   []string
	}{
		{name: "no file", in: "", contains: []string{"[containers]\n" + want}},
		{name: "other tables", in: "[engine]\nruntime = \"runc\"\n",
			contains: []string{"[engine]\nruntime = \"runc\"\n\n[containers]\n" + want}},
		{name: "containers table without the key", in: "[containers]\nlog_size_max = 1000\n\n[engine]\ncgroup_manager = \"cgroupfs\"\n",
			contains: []string{"[containers]\nlog_size_max = 1000\n" + want + "\n\n[engine]"}},
		{name: "replaces a value, keeps other rlimits", in: "[containers]\ndefault_ulimits = [\"nofile=1048576:1048576\", \"memlock=-1:-1\"]\n",
			contains: []string{`default_ulimits = ["nofile=20000:20000", "nproc=32768:32768", "memlock=-1:-1"]`},
			absent:   []string{"1048576"}},
		{name: "multi-line value", in: "[containers]\ndefault_ulimits = [\n  \"nofile=1048576:1048576\",\n]\nnetns = \"private\"\n",
			contains: []string{want + "\nnetns = \"private\""}, absent: []string{"1048576"}},
		{name: "commented key stays a comment", in: "[containers]\n# default_ulimits = [\n#  \"nofile=1280:2560\",\n# ]\n",
			contains: []string{"# default_ulimits = [", want}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mergeUlimits([]byte(tc.in), PodmanUlimits)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.contains {
				if !strings.Contains(string(got), c) {
					t.Errorf("merged file lacks %q:\n%s", c, got)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(string(got), a) {
					t.Errorf("merged file still has %q:\n%s", a, got)
				}
			}
			again, err := mergeUlimits(got, PodmanUlimits)
			if err != nil || string(again) != string(got) {
				t.Errorf("merging twice changed the file:\n%s\n---\n%s", got, again)
			}
		})
	}
}

func TestSetTOMLKeyRuntime(t *testing.T) {
	in := "[containers]\ndefault_ulimits = [\"nofile=20000:20000\"]\n\n[engine]\ncgroup_manager = \"cgroupfs\"\n\n[network]\n"
	got := string(setTOMLKey([]byte(in), "engine", "runtime", `"runc"`))
	if !strings.Contains(got, "[engine]\ncgroup_manager = \"cgroupfs\"\nruntime = \"runc\"\n\n[network]") {
		t.Errorf("got\n%s", got)
	}
	var c containersConf
	if err := decodeConf(got, &c); err != nil || c.Engine.Runtime != "runc" {
		t.Errorf("runtime %q, %v", c.Engine.Runtime, err)
	}
}
