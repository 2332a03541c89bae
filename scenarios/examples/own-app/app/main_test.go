package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func get(t *testing.T, url, tenant string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tenant != "" {
		req.Header.Set("X-Tenant", tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The example scenario's request is answered with the body it expects; a
// request without the tenant header is refused; a draining pod is not ready
// but still serves.
func TestShop(t *testing.T) {
	var draining atomic.Bool
	srv := httptest.NewServer(newMux(&draining, "pod-1"))
	defer srv.Close()

	code, body := get(t, srv.URL+"/api/items", "rehearse")
	if code != 200 || !strings.Contains(body, `"items"`) || !strings.Contains(body, `"tenant":"rehearse"`) {
		t.Fatalf("items: %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/api/items", ""); code != http.StatusBadRequest {
		t.Fatalf("no tenant: %d, want 400", code)
	}
	if code, _ := get(t, srv.URL+"/healthz", ""); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	draining.Store(true)
	if code, _ := get(t, srv.URL+"/healthz", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("healthz while draining: %d, want 503", code)
	}
	if code, _ := get(t, srv.URL+"/api/items", "rehearse"); code != 200 {
		t.Fatalf("items while draining: %d, want 200", code)
	}
}
