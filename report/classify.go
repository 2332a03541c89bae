package report

import "strings"

// Error classes of a failed request.
const (
	ClassRefused = "refused"
	ClassReset   = "reset"
	ClassTimeout = "timeout"
	Class5xx     = "5xx"
	Class4xx     = "4xx"
	ClassOther   = "other"
	// ClassExpect is a request whose answer came but failed a user target's
	// expect check (its error starts with ExpectErrorPrefix).
	ClassExpect = "expect"
)

// ExpectErrorPrefix starts the error of a result whose answer failed a
// user target's expect check.
const ExpectErrorPrefix = "expect: "

// ErrorClasses lists the classes in reporting order.
func ErrorClasses() []string {
	return []string{ClassRefused, ClassReset, ClassTimeout, Class5xx, Class4xx, ClassExpect, ClassOther}
}

// Succeeded tells whether a result is a success: an answer with a 2xx or 3xx
// status and no transport error.
func Succeeded(code uint16, err string) bool {
	return err == "" && code >= 200 && code < 400
}

// Classify names the class of a failed result; "" for a success.
func Classify(code uint16, err string) string {
	if Succeeded(code, err) {
		return ""
	}
	if strings.HasPrefix(err, ExpectErrorPrefix) {
		return ClassExpect
	}
	switch {
	case code >= 500:
		return Class5xx
	case code >= 400:
		return Class4xx
	}
	e := strings.ToLower(err)
	switch {
	case strings.Contains(e, "connection refused"), strings.Contains(e, "no route to host"),
		strings.Contains(e, "rotation.invalid"):
		return ClassRefused
	case strings.Contains(e, "connection reset"), strings.Contains(e, "broken pipe"),
		strings.Contains(e, "eof"), strings.Contains(e, "server closed idle connection"):
		return ClassReset
	case strings.Contains(e, "timeout"), strings.Contains(e, "deadline exceeded"):
		return ClassTimeout
	}
	return ClassOther
}
