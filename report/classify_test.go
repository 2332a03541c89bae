package report

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClassify names the class of a result from its status code and the
// error text vegeta records (err.Error() of the HTTP client, or the status
// line for an answer that is not 2xx/3xx).
func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		code uint16
		err  string
		want string
	}{
		// Successes have no class.
		{"200", 200, "", ""},
		{"204", 204, "", ""},
		{"301 not followed", 301, "", ""},

		{"refused", 0, `Get "http://127.0.0.1:8080/": dial tcp 127.0.0.1:8080: connect: connection refused`, ClassRefused},
		{"no route to host", 0, `Get "http://10.0.0.9:30080/": dial tcp 10.0.0.9:30080: connect: no route to host`, ClassRefused},
		{"empty rotation", 0, `Get "http://rotation.invalid/": dial tcp: lookup rotation.invalid: no such host`, ClassRefused},

		{"reset", 0, `Get "http://10.0.0.1:30080/": read tcp 10.0.0.2:51234->10.0.0.1:30080: read: connection reset by peer`, ClassReset},
		{"EOF", 0, `Get "http://10.0.0.1:30080/": EOF`, ClassReset},
		{"unexpected EOF", 0, `Get "http://10.0.0.1:30080/": unexpected EOF`, ClassReset},
		{"broken pipe", 0, `Get "http://10.0.0.1:30080/": write tcp 10.0.0.2:51234->10.0.0.1:30080: write: broken pipe`, ClassReset},
		{"server closed idle connection", 0, `Get "http://10.0.0.1:30080/": http: server closed idle connection`, ClassReset},

		{"client timeout", 0, `Get "http://10.0.0.1:30080/": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, ClassTimeout},
		{"dial i/o timeout", 0, `Get "http://10.0.0.1:30080/": dial tcp 10.0.0.1:30080: i/o timeout`, ClassTimeout},
		{"deadline exceeded", 0, `Get "http://10.0.0.1:30080/": context deadline exceeded`, ClassTimeout},

		{"503", 503, "503 Service Unavailable", Class5xx},
		{"500 without error text", 500, "", Class5xx},
		{"502", 502, "502 Bad Gateway", Class5xx},
		// The status code wins over the error text.
		{"504 that mentions a timeout", 504, "504 Gateway Timeout", Class5xx},

		{"404", 404, "404 Not Found", Class4xx},
		{"429", 429, "429 Too Many Requests", Class4xx},
		{"408 that mentions a timeout", 408, "408 Request Timeout", Class4xx},

		// A user target's failed expect check is its own class, whatever
		// the status and whatever words the expectation holds.
		{"expect on a 200", 200, `expect: body does not contain "ok"`, ClassExpect},
		{"expect on a 500", 500, "expect: status 500, want 200", ClassExpect},
		{"expect naming a timeout", 200, "expect: header X-Timeout missing", ClassExpect},
		{"expect only inside the text", 0, `Get "http://x/": expect: nothing`, ClassOther},

		{"tls", 0, `Get "https://10.0.0.1:443/": tls: failed to verify certificate: x509: certificate signed by unknown authority`, ClassOther},
		{"unknown host", 0, `Get "http://nope.example/": dial tcp: lookup nope.example on 10.96.0.10:53: no such host`, ClassOther},
		{"1xx", 101, "", ClassOther},
		{"no code and no error", 0, "", ClassOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Classify(tc.code, tc.err), "Classify(%d, %q)", tc.code, tc.err)
			assert.Equal(t, tc.want == "", Succeeded(tc.code, tc.err))
			if tc.want != "" {
				assert.Contains(t, ErrorClasses(), tc.want)
			}
		})
	}
}

// TestClassifyRealTransportErrors makes the failures over loopback and
// classifies the errors Go's HTTP client really returns, so the table above
// cannot drift from the messages of the standard library.
func TestClassifyRealTransportErrors(t *testing.T) {
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := l.Addr().String()
	require.NoError(t, l.Close())

	// Servers that misbehave at the connection level.
	hijack := func(t *testing.T, then func(net.Conn)) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			then(conn)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	resetURL := hijack(t, func(c net.Conn) {
		_ = c.(*net.TCPConn).SetLinger(0) // close with RST
		_ = c.Close()
	})
	eofURL := hijack(t, func(c net.Conn) { _ = c.Close() })
	cutURL := hijack(t, func(c net.Conn) {
		w := bufio.NewWriter(c)
		_, _ = w.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
		_ = w.Flush()
		_ = c.Close()
	})
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	status := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }))
		t.Cleanup(srv.Close)
		return srv.URL
	}

	tests := []struct {
		name, url string
		timeout   time.Duration
		want      string
	}{
		{"refused", "http://" + closedAddr + "/", 0, ClassRefused},
		{"reset", resetURL, 0, ClassReset},
		{"closed before answering", eofURL, 0, ClassReset},
		{"body cut short", cutURL, 0, ClassReset},
		{"timeout", slow.URL, 200 * time.Millisecond, ClassTimeout},
		{"503", status(503), 0, Class5xx},
		{"404", status(404), 0, Class4xx},
		{"200", status(200), 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Like vegeta: no retries on a fresh connection, the error text
			// as recorded, the status line as the error of a non-2xx answer.
			client := &http.Client{Timeout: tc.timeout, Transport: &http.Transport{DisableKeepAlives: true}}
			if tc.timeout == 0 {
				client.Timeout = 30 * time.Second
			}
			var code uint16
			var msg string
			resp, err := client.Get(tc.url)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				code = uint16(resp.StatusCode)
				if err == nil && (code < 200 || code >= 400) {
					msg = resp.Status
				}
			}
			if err != nil {
				msg = err.Error()
			}
			t.Logf("code %d, error %q", code, msg)
			assert.Equal(t, tc.want, Classify(code, msg), "code %d, error %q", code, msg)
		})
	}
}
