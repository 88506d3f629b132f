// Command gpu-scheduler is kube-scheduler with gpu-scheduler's plugins and scheduler-plugins'
// Coscheduling registered; which of them run, and with what args, is the config file's business.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "sigs.k8s.io/scheduler-plugins/apis/config/scheme"
	"sigs.k8s.io/scheduler-plugins/pkg/coscheduling"

	_ "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/scheme"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins"
)

func main() {
	opts := []app.Option{app.WithPlugin(coscheduling.Name, coscheduling.New)}
	for name, factory := range plugins.Registry() {
		opts = append(opts, app.WithPlugin(name, factory))
	}
	os.Exit(cli.Run(app.NewSchedulerCommand(opts...)))
}
