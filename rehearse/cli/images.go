package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/nodeimage"
)

func newImagesCmd(streams Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Build and list the kind node images rehearse clusters run on",
		Long: `Node images are built offline: Kubernetes, etcd, CoreDNS, pause and flannel
from the Go module proxy, the node's userland from Debian packages. Each image
is named localhost/rehearse/node:<version> in podman and labelled with the
recipe it was built from, so a second build of the same version is a no-op.`,
	}
	cmd.AddCommand(newImagesBuildCmd(streams), newImagesListCmd(streams))
	return cmd
}

type imagesBuildOptions struct {
	versions   []string
	fromSource bool
	cache      string
	canary     bool
	lb         bool
	calico     bool
	progressFlags
}

func newImagesBuildCmd(streams Streams) *cobra.Command {
	o := imagesBuildOptions{canary: true}
	cmd := &cobra.Command{
		Use:   "build --kubernetes VERSION [--kubernetes VERSION...]",
		Short: "Build node images (and the canary image) without any registry",
		Long: `Build a kind node image for each Kubernetes version, and the canary image
(localhost/rehearse/canary:<rehearse version>).

When a registry answers and --from-source is not given, kind's published
kindest/node image is pulled instead of building. Building one version from
source takes about 10 minutes of compiling Kubernetes, plus a few minutes once
for etcd, CoreDNS, flannel and the Debian root file systems; everything is
cached in --cache. Progress goes to stderr, a full log per build to
<cache>/logs.`,
		Example: `  rehearse images build --kubernetes v1.35.4
  rehearse images build --kubernetes v1.35.4 --kubernetes v1.36.3 --from-source`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runImagesBuild(c, streams, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.versions, "kubernetes", nil, "Kubernetes version to build, e.g. v1.35.4 (repeatable)")
	f.BoolVar(&o.fromSource, "from-source", false, "build even when a registry could provide kindest/node")
	f.StringVar(&o.cache, "cache", nodeimage.DefaultCacheDir(), "cache folder for builds, binaries, archives and logs")
	f.BoolVar(&o.canary, "canary", o.canary, "also build the canary image")
	f.BoolVar(&o.calico, "calico", false, "also build Calico "+nodeimage.CalicoVersion+" from source (stand-ins for "+strings.Join(nodeimage.CalicoImages, ", ")+"; rehearse run and cluster create build them when needed)")
	f.BoolVar(&o.lb, "load-balancer", false, "also build the stand-in for the load balancer kind puts in front of several control planes ("+nodeimage.LoadBalancerImage+"; rehearse run and cluster create build it when needed)")
	o.addProgressFlags(f, "also every command the build runs, and a heartbeat every 10s (else 30s) while one runs")
	return cmd
}

func runImagesBuild(c *cobra.Command, streams Streams, o imagesBuildOptions) error {
	if len(o.versions) == 0 && !o.lb && !o.calico {
		return badInput(fmt.Errorf("--kubernetes: at least one version is needed (or --load-balancer, --calico)"))
	}
	for _, v := range o.versions {
		if _, err := nodeimage.ParseVersion(v); err != nil {
			return badInput(fmt.Errorf("--kubernetes: %w", err))
		}
	}
	ctx := c.Context()
	if err := o.progressFlags.check(); err != nil {
		return badInput(err)
	}
	opts := nodeimage.Options{CacheDir: o.cache, FromSource: o.fromSource, Verbose: o.verbose}
	if !o.quiet {
		opts.Progress = streams.Err
	}
	if o.verbose {
		opts.Heartbeat = 10 * time.Second
	}
	for _, v := range o.versions {
		res, err := nodeimage.Build(ctx, opts, v)
		if err != nil {
			return err
		}
		state := "built"
		switch {
		case res.Cached:
			state = "up to date"
		case res.Source == "upstream":
			state = "pulled"
		}
		fmt.Fprintf(streams.Out, "%s\t%s\trecipe %s\t%s\n", res.Image, state, res.Recipe, res.Duration.Round(time.Second))
	}
	if o.canary {
		wd, _ := os.Getwd()
		res, err := nodeimage.BuildCanary(ctx, nodeimage.CanaryOptions{
			Options: opts,
			Version: rehearse.Version(),
			Source:  nodeimage.FindCanarySource(wd),
		})
		if err != nil {
			return fmt.Errorf("canary image: %w", err)
		}
		state := "built"
		if res.Cached {
			state = "up to date"
		}
		fmt.Fprintf(streams.Out, "%s\t%s\tarchive %s\t%s\n", res.Image, state, res.Archive, res.Duration.Round(time.Second))
	}
	if o.lb {
		wd, _ := os.Getwd()
		res, err := nodeimage.BuildLoadBalancer(ctx, nodeimage.CanaryOptions{Options: opts, Version: rehearse.Version(), Source: nodeimage.FindCanarySource(wd)})
		if err != nil {
			return fmt.Errorf("load balancer image: %w", err)
		}
		state := "built"
		if res.Cached {
			state = "up to date"
		}
		fmt.Fprintf(streams.Out, "%s\t%s\tarchive %s\t%s\n", res.Image, state, res.Archive, res.Duration.Round(time.Second))
	}
	if o.calico {
		res, err := nodeimage.BuildCalico(ctx, opts)
		if err != nil {
			return fmt.Errorf("calico: %w", err)
		}
		for _, img := range res.Images {
			fmt.Fprintf(streams.Out, "%s\tbuilt or up to date\t%s\n", img, res.Duration.Round(time.Second))
		}
		fmt.Fprintf(streams.Out, "manifest\t%s\n", res.Manifest)
	}
	return nil
}

func newImagesListCmd(streams Streams) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the node images found by their labels",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if format == "table" {
				format = formatText // the name of the text format before -o took the same formats everywhere
			}
			if err := checkOutput(format, dataFormats); err != nil {
				return err
			}
			images, err := nodeimage.List(c.Context())
			if err != nil {
				return err
			}
			if images == nil {
				images = []nodeimage.Image{}
			}
			return writeData(streams.Out, format, images, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "IMAGE\tKUBERNETES\tSOURCE\tRECIPE\tID\tCREATED\tSIZE")
				for _, im := range images {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.0f MB\n", im.Name, im.Kubernetes, im.Source, im.Recipe,
						im.ID, im.Created.Local().Format(time.DateTime), float64(im.Size)/1e6)
				}
				return tw.Flush()
			})
		},
	}
	addOutputFlag(cmd.Flags(), &format, dataFormats)
	return cmd
}
