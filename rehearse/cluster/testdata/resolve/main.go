// Command resolve looks names up the way a program in a pod does, with Go's
// own resolver: /etc/resolv.conf's nameservers, search path and ndots. The
// cluster tests put it in their tools image (busybox's nslookup does not
// apply the search path to a name with a dot). It prints "NAME -> ADDR..."
// per name and exits 1 when a name does not resolve.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	code := 0
	for _, name := range os.Args[1:] {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		addrs, err := net.DefaultResolver.LookupHost(ctx, name)
		cancel()
		if err != nil {
			fmt.Printf("%s: %v\n", name, err)
			code = 1
			continue
		}
		fmt.Printf("%s -> %s\n", name, strings.Join(addrs, " "))
	}
	os.Exit(code)
}
