// Package lb is a stand-in for the Envoy proxy that kind puts in front of the
// kube-apiservers of a cluster with several control planes. Where no registry
// serves docker.io/envoyproxy/envoy, the load-balancer image rehearse builds
// carries this program as its `envoy` executable instead.
//
// It reads the same files Envoy would: the bootstrap kind writes to
// /home/envoy/envoy.yaml (given with -c), and the LDS and CDS files the
// bootstrap names, which kind later replaces by renaming new files over them.
// From those it takes one listener and the cluster that listener's tcp_proxy
// points at, and serves them as a plain TCP proxy: connections are spread
// round robin over the healthy endpoints, which are probed with HTTP(S)
// health checks the way the CDS health_checks section describes. When no
// endpoint is healthy, connections go to all of them, like Envoy's panic mode.
//
// Main is the program; ParseFiles turns LDS and CDS content into a Config, and
// a Balancer serves a Config and takes new ones while it runs.
package lb
