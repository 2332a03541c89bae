package cli

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"

	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/kube"
)

// apiFlags name the cluster a command talks to, as kubectl names it:
// --kubeconfig, --context, --request-timeout and, where a command acts in a
// namespace, -n/--namespace, all through client-go's ConfigFlags so they
// mean what they mean to kubectl.
type apiFlags struct {
	kubeconfig     string
	context        string
	namespace      string
	requestTimeout string
	configFlags    *genericclioptions.ConfigFlags
}

// addAPIFlags adds --kubeconfig (with the command's own usage), --context and
// --request-timeout (30s unless given, where kubectl has no limit: an API
// server that accepts connections and never answers fails the command).
func (a *apiFlags) addAPIFlags(f *pflag.FlagSet, kubeconfigUsage string) {
	a.requestTimeout = kube.DefaultRequestTimeout.String()
	a.configFlags = &genericclioptions.ConfigFlags{
		KubeConfig: &a.kubeconfig,
		Context:    &a.context,
		Timeout:    &a.requestTimeout,
	}
	a.configFlags.AddFlags(f)
	f.Lookup("kubeconfig").Usage = kubeconfigUsage
	f.Lookup("context").Usage = "kubeconfig context (default: its current context)"
	f.Lookup("request-timeout").Usage = "how long to wait for each answer of the API server before giving up (30s, 2m, or seconds; 0: no limit)"
}

// addKubeconfigFlags adds only --kubeconfig and --context, for a command
// that hands them on (run passes them to the scenario's existing cluster).
func (a *apiFlags) addKubeconfigFlags(f *pflag.FlagSet, kubeconfigUsage string) {
	a.configFlags = &genericclioptions.ConfigFlags{KubeConfig: &a.kubeconfig, Context: &a.context}
	a.configFlags.AddFlags(f)
	f.Lookup("kubeconfig").Usage = kubeconfigUsage
	f.Lookup("context").Usage = "kubeconfig context (default: its current context)"
}

// addNamespace adds kubectl's -n/--namespace with a default of the command's.
func (a *apiFlags) addNamespace(f *pflag.FlagSet, def, usage string) {
	a.namespace = def
	fs := pflag.NewFlagSet("namespace", pflag.ContinueOnError)
	cf := &genericclioptions.ConfigFlags{Namespace: &a.namespace}
	cf.AddFlags(fs)
	fs.Lookup("namespace").Usage = usage
	fs.Lookup("namespace").DefValue = def
	f.AddFlagSet(fs)
	if a.configFlags != nil {
		a.configFlags.Namespace = &a.namespace
	}
}

// config loads the REST config through ConfigFlags, after kube.Config has
// checked the kubeconfig and context and named what is wrong with them
// (ConfigFlags alone falls back to localhost:8080 when nothing is found).
func (a apiFlags) config() (*rest.Config, error) {
	timeout, err := kube.ParseRequestTimeout(a.requestTimeout)
	if err != nil {
		return nil, fmt.Errorf("--request-timeout %w", err)
	}
	if _, err := kube.Config(a.kubeconfig, a.context); err != nil {
		return nil, err
	}
	// The flags' values as given, with the timeout set below from the value
	// already checked.
	noTimeout := "0"
	cf := &genericclioptions.ConfigFlags{KubeConfig: &a.kubeconfig, Context: &a.context, Timeout: &noTimeout}
	if a.namespace != "" {
		cf.Namespace = &a.namespace
	}
	cfg, err := cf.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", a.kubeconfig, err)
	}
	cfg.Timeout = timeout
	cfg.UserAgent = "rehearse/" + rehearse.Version()
	return cfg, nil
}
