// Command gpu-scheduler is kube-scheduler with gpu-scheduler's out-of-tree plugins registered; which
// of them run, and with what args, is the config file's business.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "sigs.k8s.io/scheduler-plugins/apis/config/scheme"

	_ "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/scheme"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins"
)

func main() {
	os.Exit(cli.Run(app.NewSchedulerCommand(registryOptions()...)))
}

func registryOptions() []app.Option {
	var opts []app.Option
	for name, factory := range plugins.Registry() {
		opts = append(opts, app.WithPlugin(name, factory))
	}
	return opts
}
