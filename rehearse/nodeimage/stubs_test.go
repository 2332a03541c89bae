package nodeimage

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const stubSource = `//go:build !cgo

package libbpf

import (
	"runtime"
)

type Obj struct{}

func (m *Map) Name() string {
	panic("LIBBPF syscall stub")
}

func OpenObject(filename string) (*Obj, error) {
	panic("LIBBPF syscall stub")
}

func (o *Obj) Load() error {
	panic("LIBBPF syscall stub")
}

func ProgQueryTcx(ifindex int, ingress bool) ([64]uint32, [64]uint32, uint32, error) {
	panic("LIBBPF syscall stub")
}

func MapUpdateBatch(fd int, k, v []byte, count int, flags uint64) (n int, err error) {
	panic("LIBBPF syscall stub")
}

func NumPossibleCPUs() (int, error) {
	return runtime.NumCPU(), nil
}
`

func TestErrorStubs(t *testing.T) {
	out, n, err := ErrorStubs(stubSource)
	require.NoError(t, err)
	assert.Equal(t, 4, n, "OpenObject, Load, ProgQueryTcx and MapUpdateBatch return errors")
	_, err = parser.ParseFile(token.NewFileSet(), "out.go", out, 0)
	require.NoError(t, err, out)
	for _, want := range []string{
		"func OpenObject(filename string) (*Obj, error) {\n\treturn nil, errNoLibbpf\n}",
		"func (o *Obj) Load() error {\n\treturn errNoLibbpf\n}",
		"return [64]uint32{}, [64]uint32{}, 0, errNoLibbpf",
		"(n int, err error) {\n\treturn 0, errNoLibbpf\n}",
		"import \"errors\"",
		"//go:build !cgo\n\npackage libbpf",
	} {
		assert.Contains(t, out, want)
	}
	assert.Contains(t, out, "func (m *Map) Name() string {\n\tpanic(", "a stub with no error result keeps its panic")
	assert.Contains(t, out, "return runtime.NumCPU(), nil", "a real body is left alone")
	assert.Equal(t, 1, strings.Count(out, "var errNoLibbpf"))

	same, n, err := ErrorStubs("package p\n\nfunc F() error { return nil }\n")
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, "package p\n\nfunc F() error { return nil }\n", same)
}

func TestCalicoProgram(t *testing.T) {
	p := calicoProgram("/cache/src/calico")
	mod := p.wrapper.GoMod()
	assert.Contains(t, mod, "\t"+CalicoModule+" => /cache/src/calico\n")
	assert.Contains(t, mod, "\tk8s.io/client-go => k8s.io/client-go "+calicoKubernetesVersion+"\n")
	assert.Contains(t, mod, "\tgithub.com/projectcalico/api => github.com/projectcalico/api "+calicoAPIVersion+"\n")
	assert.Equal(t, []string{"calico", "calico-node", "check-status", "install", "kube-controllers"}, sortedKeys(p.targets))
	assert.False(t, p.cgo, "no cgo: the libbpf stubs stand in for BPF")
}
