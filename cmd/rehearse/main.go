// Command rehearse rehearses a Kubernetes upgrade before anyone touches
// production. See the README for the commands.
//
// Run as envoy (the name kind gives the load balancer of several control
// planes), it is that load balancer: see package rehearse/lb.
package main

import (
	"os"
	"path/filepath"

	"github.com/rehearse/rehearse/rehearse/cli"
	"github.com/rehearse/rehearse/rehearse/lb"
)

func main() {
	if filepath.Base(os.Args[0]) == "envoy" {
		os.Exit(lb.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(cli.Main())
}
