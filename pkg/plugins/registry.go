// Package plugins lists the out-of-tree plugins gpu-scheduler runs, by name: the one registry the
// scheduler binary and the simulator both build their frameworks from.
package plugins

import (
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/antistranding"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/coscheduling"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpubinpacking"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpufit"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpufragmentation"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpumodel"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/interconnect"
)

// Registry returns a fresh out-of-tree registry: gpu-scheduler's plugins and scheduler-plugins'
// Coscheduling, so gangs need only configuration.
func Registry() frameworkruntime.Registry {
	return frameworkruntime.Registry{
		coscheduling.Name:     coscheduling.New,
		gpufit.Name:           gpufit.New,
		gpumodel.Name:         gpumodel.New,
		interconnect.Name:     interconnect.New,
		gpubinpacking.Name:    gpubinpacking.New,
		antistranding.Name:    antistranding.New,
		gpufragmentation.Name: gpufragmentation.New,
	}
}
