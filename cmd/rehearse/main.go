// Command rehearse rehearses a Kubernetes upgrade before anyone touches
// production. See the README for the commands.
package main

import (
	"os"

	"github.com/rehearse/rehearse/rehearse/cli"
)

func main() {
	os.Exit(cli.Main())
}
