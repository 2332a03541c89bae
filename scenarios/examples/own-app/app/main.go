// Command shop is a small application of our own, not the canary, used by
// the own-app example scenario: a catalogue service that answers
// GET /api/items with JSON for a tenant named in the X-Tenant header, as a
// team's real service would, and drains on SIGTERM like a well-behaved one.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	drain := flag.Duration("drain", 5*time.Second, "how long to keep serving, not ready, after SIGTERM")
	warmup := flag.Duration("warmup", 0, "how long to stay not ready after start, like a service filling its caches")
	flag.Parse()

	var draining atomic.Bool
	if *warmup > 0 {
		// Not ready until warm: /healthz answers 503 like a draining pod.
		draining.Store(true)
		time.AfterFunc(*warmup, func() { draining.Store(false) })
	}
	host, _ := os.Hostname()
	mux := newMux(&draining, host)
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		// Not ready first, so endpoints drop this pod; keep serving the
		// requests already routed here, then stop.
		draining.Store(true)
		time.Sleep(*drain)
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("shop listening on %s", *addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// newMux serves /healthz (503 once draining) and /api/items.
func newMux(draining *atomic.Bool, host string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /api/items", func(w http.ResponseWriter, r *http.Request) {
		tenant := r.Header.Get("X-Tenant")
		if tenant == "" {
			http.Error(w, `{"error":"X-Tenant header required"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Served-By", host)
		json.NewEncoder(w).Encode(map[string]any{
			"tenant": tenant,
			"items":  []string{"anvil", "rope", "lantern"},
		})
	})
	return mux
}
