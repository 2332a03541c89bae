package report

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A renderer that panics gives an error naming it, not a crash.
func TestSafeRender(t *testing.T) {
	err := safeRender(func(w io.Writer, r *Report) error { panic("index out of range") }, &bytes.Buffer{}, &Report{})
	assert.EqualError(t, err, "internal error: index out of range")
	err = safeRender(func(w io.Writer, r *Report) error { return errors.New("plain") }, &bytes.Buffer{}, &Report{})
	assert.EqualError(t, err, "plain")
}
