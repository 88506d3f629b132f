// Package plugins lists gpu-scheduler's plugins by name: the one registry the scheduler binary and the
// simulator both build their frameworks from.
package plugins

import (
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/antistranding"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpubinpacking"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpufit"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpumodel"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/interconnect"
)

// Registry returns a fresh out-of-tree registry of gpu-scheduler's plugins.
func Registry() frameworkruntime.Registry {
	return frameworkruntime.Registry{
		gpufit.Name:        gpufit.New,
		gpumodel.Name:      gpumodel.New,
		interconnect.Name:  interconnect.New,
		gpubinpacking.Name: gpubinpacking.New,
		antistranding.Name: antistranding.New,
	}
}
