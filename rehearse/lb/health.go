package lb

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Health check settings used when a Config enables checks (HealthPath set)
// but leaves a number at zero; they are the values kind writes.
const (
	defaultHealthInterval = 2 * time.Second
	defaultHealthTimeout  = 3 * time.Second
	defaultUnhealthy      = 2
	defaultHealthy        = 1
)

// healthSpec is how backends are checked; comparable, so a change is seen.
type healthSpec struct {
	path              string
	tls               bool
	interval, timeout time.Duration
	unhealthy         int
	healthy           int
}

func healthSpecOf(cfg Config) healthSpec {
	if cfg.HealthPath == "" {
		return healthSpec{}
	}
	h := healthSpec{
		path:      cfg.HealthPath,
		tls:       cfg.HealthTLS,
		interval:  cfg.HealthInterval,
		timeout:   cfg.HealthTimeout,
		unhealthy: cfg.Unhealthy,
		healthy:   cfg.Healthy,
	}
	if !strings.HasPrefix(h.path, "/") {
		h.path = "/" + h.path
	}
	if h.interval <= 0 {
		h.interval = defaultHealthInterval
	}
	if h.timeout <= 0 {
		h.timeout = defaultHealthTimeout
	}
	if h.unhealthy < 1 {
		h.unhealthy = defaultUnhealthy
	}
	if h.healthy < 1 {
		h.healthy = defaultHealthy
	}
	return h
}

func (h healthSpec) enabled() bool { return h.path != "" }

// runChecks checks addr at once and then every spec.interval after the
// previous check ended, handing each result to report, until ctx ends.
func runChecks(ctx context.Context, addr string, spec healthSpec, report func(error)) {
	tr := &http.Transport{
		Proxy:               nil, // straight to the backend, whatever the environment says
		DialContext:         (&net.Dialer{Timeout: spec.timeout}).DialContext,
		TLSHandshakeTimeout: spec.timeout,
		// The apiservers' serving certificates are not checked: kind's CDS
		// says ACCEPT_UNTRUSTED.
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     spec.interval + spec.timeout + time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	scheme := "http"
	if spec.tls {
		scheme = "https"
	}
	url := scheme + "://" + addr + spec.path
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		err := checkOnce(ctx, client, url, spec.timeout)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// A fresh connection next time: the backend may have moved or
			// restarted.
			tr.CloseIdleConnections()
		}
		report(err)
		timer.Reset(spec.interval)
	}
}

// checkOnce is one HTTP GET; any 2xx answer within timeout is a success.
func checkOnce(ctx context.Context, client *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "Envoy/HC")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
