package kversion

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"v1.35.4", "v1.35.4", true},
		{"v0.0.0", "v0.0.0", true},
		{"1.35.4", "", false},
		{"v1.35", "", false},
		{"v1.35.4.1", "", false},
		{"v1.35.4+k3s1", "", false},
		{"v1.36.0-rc.1", "", false},
		{"v1.035.4", "", false},
		{"v1.35.x", "", false},
		{"v-1.35.4", "", false},
		{"v1.99999999999999999999999.0", "", false},
		{"v1.35.4 ", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			v, err := Parse(tc.in)
			if !tc.ok {
				require.Error(t, err)
				assert.Equal(t, `"`+tc.in+`" is not a Kubernetes version like v1.35.4`, err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, v.String())
		})
	}
}

func TestParseSemantic(t *testing.T) {
	for in, ok := range map[string]bool{"v1.36.0": true, "v1.36.0-rc.1": true, "v1.36.0+build.1": true, "1.36.0": false, "v1.36": false, "v1.36.0-": false, "v1.36.0 ": false} {
		_, err := ParseSemantic(in)
		assert.Equal(t, ok, err == nil, "%s: %v", in, err)
	}
}

func TestParseReported(t *testing.T) {
	tests := []struct{ in, want string }{
		{"v1.35.4", "v1.35.4"},
		{"1.35.4", "v1.35.4"},
		{"v1.35.4+k3s1", "v1.35.4"},
		{"v1.35.4-gke.100", "v1.35.4"},
		{"v1.29.0-eks-5e0fdde", "v1.29.0"},
		{"v1.29.0-minimal-eksbuild.1", "v1.29.0"},
		{"v1.27.6+f67aeb3", "v1.27.6"},
		{"v1.36.0-rc.1", "v1.36.0"},
		{"v1.35", ""},
		{"latest", ""},
		{"v1.35.4.5", ""},
		{" v1.35.4", ""},
		{"", ""},
	}
	for _, tc := range tests {
		v, err := ParseReported(tc.in)
		if tc.want == "" {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, v.String(), tc.in)
	}
}

func TestCompare(t *testing.T) {
	v := func(s string) Version { x, err := ParseSemantic(s); require.NoError(t, err); return x }
	assert.Equal(t, -1, v("v1.35.4").Compare(v("v1.35.5")))
	assert.Equal(t, -1, v("v1.35.40").Compare(v("v1.36.0")))
	assert.Equal(t, 1, v("v2.0.0").Compare(v("v1.99.99")))
	assert.Equal(t, 0, v("v1.35.4").Compare(v("v1.35.4")))
	assert.Equal(t, -1, v("v1.36.0-rc.1").Compare(v("v1.36.0")), "a pre-release is older than its release")
	var zero Version
	assert.Equal(t, "v0.0.0", zero.String())
	assert.Equal(t, -1, zero.Compare(v("v0.0.1")))
	assert.Equal(t, 1, v("v0.0.1").Compare(zero))
	assert.Equal(t, "v1.36.0", v("v1.36.0-rc.1").Release().String())
	assert.Equal(t, "v1.36.0", v("v1.35.4").NextMinor().String())
}

func TestMinors(t *testing.T) {
	tests := []struct {
		from, to string
		n        int
		ok       bool
	}{
		{"v1.35.4", "v1.35.9", 0, true},
		{"v1.35.4", "v1.36.0", 1, true},
		{"v1.35.4", "v1.38.0", 3, true},
		{"v1.35.4", "v1.33.0", -2, true},
		{"v1.35.4", "v2.0.0", 0, false},
	}
	for _, tc := range tests {
		n, ok := Minors(MustParse(tc.from), MustParse(tc.to))
		assert.Equal(t, tc.n, n, "%s → %s", tc.from, tc.to)
		assert.Equal(t, tc.ok, ok, "%s → %s", tc.from, tc.to)
	}
}

func TestCheckUpgrade(t *testing.T) {
	tests := []struct {
		cur, target string
		err         string
	}{
		{"v1.35.4", "v1.36.3", ""},
		{"v1.35.4", "v1.35.5", ""},
		{"v1.35.4", "v1.36.0", ""},
		{"v1.35.4", "v1.35.4", "target v1.35.4 is not newer than the cluster's v1.35.4"},
		{"v1.35.4", "v1.34.9", "target v1.34.9 is not newer than the cluster's v1.35.4"},
		{"v1.35.4", "v1.37.0", "target v1.37.0 is more than one minor version ahead of v1.35.4 (kubeadm upgrades one minor at a time: go to v1.36.x first)"},
		{"v1.35.4", "v2.0.0", "target v2.0.0 is more than one minor version ahead of v1.35.4"},
		{"v1.99.0", "v2.0.0", "target v2.0.0 is more than one minor version ahead of v1.99.0"},
	}
	for _, tc := range tests {
		err := CheckUpgrade(MustParse(tc.cur), MustParse(tc.target))
		if tc.err == "" {
			assert.NoError(t, err, "%s → %s", tc.cur, tc.target)
			continue
		}
		require.Error(t, err, "%s → %s", tc.cur, tc.target)
		assert.Contains(t, err.Error(), tc.err)
	}
}

func TestExpected(t *testing.T) {
	tests := []struct {
		actual, expected string
		want             bool
	}{
		{"v1.35.4", "v1.35.4", true},
		{"1.35.4", "v1.35.4", true},
		{"v1.35.4", "1.35.4", true},
		{"v1.35.4-eks-5e0fdde", "v1.35.4", true},
		{"v1.35.4-minimal-eksbuild.2", "v1.35.4", true},
		{"v1.35.4+k3s1", "v1.35.4", true},
		{"v1.35.4-gke.100", "v1.35.4", true},
		{"v1.35.40", "v1.35.4", false},
		{"v1.35.3", "v1.35.4", false},
		{"v1.35.4", "v1.35", true},
		{"v1.35.9+k3s1", "v1.35", true},
		{"v1.36.0", "v1.35", false},
		{"v1.35.4-rc.1", "v1.35.4-rc.1", true},
		{"v1.35.4", "v1.35.4-rc.1", false},
		{"latest", "v1.35.4", false},
		{"", "v1.35.4", false},
	}
	for _, tc := range tests {
		e, err := ParseExpected(tc.expected)
		require.NoError(t, err, tc.expected)
		assert.Equal(t, tc.want, e.Matches(tc.actual), "%s vs %s", tc.actual, tc.expected)
	}
	for _, bad := range []string{"", "latest", "v1", "v1.036", "v1.35.4.", "v1.35-", " v1.35.4", "v1.35.4 "} {
		_, err := ParseExpected(bad)
		assert.Error(t, err, "%q", bad)
	}
	e, err := ParseExpected("1.36")
	require.NoError(t, err)
	assert.Equal(t, "v1.36", e.String())
	assert.False(t, Expected{}.Matches("v1.35.4"))
}
