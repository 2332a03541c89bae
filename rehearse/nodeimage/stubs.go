package nodeimage

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"sort"
	"strings"
)

// ErrorStubs rewrites a Go file of stubs whose bodies only panic: every
// such function whose last result is an error returns zero values and
// errNoLibbpf instead, declared in the file (with its "errors" import).
// Stubs without an error result keep panicking. It returns the new source
// and how many functions it rewrote.
func ErrorStubs(src string) (string, int, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "stub.go", src, parser.ParseComments)
	if err != nil {
		return "", 0, err
	}
	type edit struct {
		from, to int
		text     string
	}
	var edits []edit
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil || len(fn.Body.List) != 1 || !onlyPanics(fn.Body.List[0]) {
			continue
		}
		res := fn.Type.Results
		if res == nil || len(res.List) == 0 {
			continue
		}
		var types []ast.Expr
		for _, field := range res.List {
			n := len(field.Names)
			if n == 0 {
				n = 1
			}
			for range n {
				types = append(types, field.Type)
			}
		}
		if id, ok := types[len(types)-1].(*ast.Ident); !ok || id.Name != "error" {
			continue
		}
		var vals []string
		for _, t := range types[:len(types)-1] {
			v, err := zeroValue(src, fset, t)
			if err != nil {
				return "", 0, fmt.Errorf("func %s: %w", fn.Name.Name, err)
			}
			vals = append(vals, v)
		}
		vals = append(vals, "errNoLibbpf")
		edits = append(edits, edit{
			from: fset.Position(fn.Body.Lbrace).Offset,
			to:   fset.Position(fn.Body.Rbrace).Offset + 1,
			text: "{\n\treturn " + strings.Join(vals, ", ") + "\n}",
		})
	}
	if len(edits) == 0 {
		return src, 0, nil
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].from > edits[j].from })
	out := src
	for _, e := range edits {
		out = out[:e.from] + e.text + out[e.to:]
	}
	// The import goes right after the package clause (a second import
	// declaration is valid Go), the error at the end.
	end := fset.Position(f.Name.End()).Offset
	out = out[:end] + "\n\nimport \"errors\"" + out[end:]
	out = strings.TrimRight(out, "\n") + "\n\n// errNoLibbpf is what a stub answers in this build, which has no libbpf.\n" +
		"var errNoLibbpf = errors.New(\"libbpf: not in this build (no cgo): BPF is unavailable\")\n"
	return out, len(edits), nil
}

// onlyPanics reports whether s is a call of panic.
func onlyPanics(s ast.Stmt) bool {
	es, ok := s.(*ast.ExprStmt)
	if !ok {
		return false
	}
	call, ok := es.X.(*ast.CallExpr)
	if !ok {
		return false
	}
	id, ok := call.Fun.(*ast.Ident)
	return ok && id.Name == "panic"
}

// zeroValue is the source text of t's zero value.
func zeroValue(src string, fset *token.FileSet, t ast.Expr) (string, error) {
	text := src[fset.Position(t.Pos()).Offset:fset.Position(t.End()).Offset]
	switch t := t.(type) {
	case *ast.StarExpr, *ast.MapType, *ast.ChanType, *ast.FuncType, *ast.InterfaceType:
		return "nil", nil
	case *ast.ArrayType:
		if t.Len == nil {
			return "nil", nil
		}
		return text + "{}", nil
	case *ast.Ident:
		switch t.Name {
		case "string":
			return `""`, nil
		case "bool":
			return "false", nil
		case "error", "any":
			return "nil", nil
		case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
			"uintptr", "float32", "float64", "byte", "rune":
			return "0", nil
		}
		return text + "{}", nil
	}
	return "", fmt.Errorf("no zero value for result type %s", text)
}
