package plugins_test

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/feature"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/noderesources"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	configv1 "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/v1"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/coscheduling"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

// benchNodes is the cluster size the issue sets for per-node benchmarks.
const benchNodes = 5000

// newPlugins builds every gpu-scheduler plugin with default args, plus the upstream NodeResourcesFit
// (LeastAllocated on cpu and memory, its default) as the yardstick. Through h, a framework handle as
// in the scheduler, the plugins share one node-state cache; with a nil h each call reads the node's
// Pods afresh.
func newPlugins(b testing.TB, h fwk.Handle) map[string]fwk.Plugin {
	ctx := context.Background()
	args := map[string]runtime.Object{
		"GPUModel":      plugintest.Args(b, &configv1.GPUModelArgs{}, &config.GPUModelArgs{}),
		"Interconnect":  plugintest.Args(b, &configv1.InterconnectArgs{}, &config.InterconnectArgs{}),
		"AntiStranding": plugintest.Args(b, &configv1.AntiStrandingArgs{}, &config.AntiStrandingArgs{}),
		"GPUFragmentation": plugintest.Args(b, &configv1.GPUFragmentationArgs{
			Workload: []configv1.WorkloadShape{{CPU: resource.MustParse("8"), Memory: resource.MustParse("32Gi"), GPUs: 1, Weight: 4},
				{CPU: resource.MustParse("4"), Memory: resource.MustParse("16Gi"), GPUFraction: "0.5", Weight: 2},
				{CPU: resource.MustParse("32"), Memory: resource.MustParse("256Gi"), GPUs: 8, Weight: 1},
				{CPU: resource.MustParse("4"), Memory: resource.MustParse("8Gi"), Weight: 1}},
		}, &config.GPUFragmentationArgs{}),
	}
	out := map[string]fwk.Plugin{}
	for name, factory := range plugins.Registry() {
		if name == coscheduling.Name {
			continue // scheduler-plugins', and it needs an API server
		}
		pl, err := factory(ctx, args[name], h)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		out[name] = pl
	}
	fit, err := noderesources.NewFit(ctx, &schedconfig.NodeResourcesFitArgs{ScoringStrategy: &schedconfig.ScoringStrategy{
		Type:      schedconfig.LeastAllocated,
		Resources: []schedconfig.ResourceSpec{{Name: "cpu", Weight: 1}, {Name: "memory", Weight: 1}},
	}}, nil, feature.Features{})
	if err != nil {
		b.Fatal(err)
	}
	out[noderesources.Name] = fit
	return out
}

// frameworkHandle is a framework handle as the scheduler's plugins get one.
func frameworkHandle(b testing.TB) fwk.Handle {
	h, err := plugintest.Handle(nil)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// benchPod asks for everything the plugins look at, so none of them skips: one GPU of an accepted
// model, a required and a preferred interconnect.
func benchPod() *v1.Pod {
	return plugintest.GPUPod("bench", "8", "32Gi", 1).
		Annotation(gpu.ModelAnnotation, "NVIDIA-H100-80GB-HBM3|NVIDIA-A100-SXM4-80GB").
		Annotation(gpu.InterconnectAnnotation, "infiniband").
		Annotation(gpu.PreferredInterconnectAnnotation, "nvlink").Obj()
}

// feasible keeps the nodes that pass every Filter, the path a placement takes most often and the one
// that must not allocate.
func feasible(b *testing.B, pls map[string]fwk.Plugin, pod *v1.Pod, nodes []fwk.NodeInfo) []fwk.NodeInfo {
	var out []fwk.NodeInfo
	for _, ni := range nodes {
		ok := true
		for _, pl := range pls {
			if pl.Name() == noderesources.Name {
				continue // its failure path allocates; ours are what we select nodes for
			}
			if _, isFilter := pl.(fwk.FilterPlugin); isFilter && !plugintest.Filter(b, pl, pod, ni).IsSuccess() {
				ok = false
			}
		}
		if ok {
			out = append(out, ni)
		}
	}
	if len(out) == 0 {
		b.Fatal("no feasible node")
	}
	return out
}

// benchPods are the two kinds of Pod the plugins treat differently; a plugin that skips one of them
// (AntiStranding filters only CPU-only Pods) is measured on the other.
func benchPods() map[string]*v1.Pod {
	return map[string]*v1.Pod{"gpu-pod": benchPod(), "cpu-pod": plugintest.GPUPod("cpu", "4", "8Gi", 0).Obj()}
}

func BenchmarkFilter(b *testing.B) {
	pls := newPlugins(b, frameworkHandle(b))
	nodes := plugintest.Cluster(benchNodes)
	for podKind, pod := range benchPods() {
		fits := feasible(b, pls, pod, nodes)
		for _, name := range sortedNames(pls) {
			pl := pls[name]
			if _, ok := pl.(fwk.FilterPlugin); !ok {
				continue
			}
			b.Run(fmt.Sprintf("%s/%s/feasible", podKind, name), func(b *testing.B) { plugintest.BenchFilter(b, pl, pod, fits) })
			b.Run(fmt.Sprintf("%s/%s/all", podKind, name), func(b *testing.B) { plugintest.BenchFilter(b, pl, pod, nodes) })
		}
	}
}

func BenchmarkScore(b *testing.B) {
	pls := newPlugins(b, frameworkHandle(b))
	nodes := plugintest.Cluster(benchNodes)
	for podKind, pod := range benchPods() {
		fits := feasible(b, pls, pod, nodes)
		for _, name := range sortedNames(pls) {
			pl := pls[name]
			if _, ok := pl.(fwk.ScorePlugin); !ok {
				continue
			}
			b.Run(fmt.Sprintf("%s/%s", podKind, name), func(b *testing.B) { plugintest.BenchScore(b, pl, pod, fits) })
		}
	}
}

func sortedNames(pls map[string]fwk.Plugin) []string {
	names := make([]string, 0, len(pls))
	for n := range pls {
		names = append(names, n)
	}
	// Stable order keeps benchstat comparisons aligned across runs.
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if names[j] < names[i] {
				names[i], names[j] = names[j], names[i]
			}
		}
	}
	return names
}

// BenchmarkDRA measures Filter and Score per node on the GPU nodes of a 5,000-node cluster, half of
// whose GPU nodes publish their GPUs through DRA (plugintest.DRATwin): each plugin on the
// device-plugin nodes and on their DRA twins, side by side.
func BenchmarkDRA(b *testing.B) {
	half := plugintest.Cluster(benchNodes / 2)
	m := plugintest.DRAManager{Classes: plugintest.GPUClasses(gpu.NVIDIAGPUClass())}
	var devicePlugin, dra []fwk.NodeInfo
	for _, ni := range half {
		twin, slice, allocated := plugintest.DRATwin(ni)
		if twin == nil {
			continue
		}
		devicePlugin, dra = append(devicePlugin, ni), append(dra, twin)
		m.Slices, m.Allocated = append(m.Slices, slice), append(m.Allocated, allocated...)
	}
	pls := newPlugins(b, plugintest.DRAHandle(b, m))
	pod := plugintest.GPUPod("bench", "8", "32Gi", 1).Annotation(gpu.ModelAnnotation, "NVIDIA-H100-80GB-HBM3|NVIDIA-A100-SXM4-80GB").Obj()
	for _, name := range sortedNames(pls) {
		pl := pls[name]
		if name == noderesources.Name {
			continue
		}
		for _, kind := range []struct {
			name  string
			nodes []fwk.NodeInfo
		}{{"device-plugin", devicePlugin}, {"dra", dra}} {
			nodes := kind.nodes
			if _, ok := pl.(fwk.FilterPlugin); ok {
				b.Run(fmt.Sprintf("filter/%s/%s", name, kind.name), func(b *testing.B) { plugintest.BenchFilter(b, pl, pod, nodes) })
			}
			if _, ok := pl.(fwk.ScorePlugin); ok {
				b.Run(fmt.Sprintf("score/%s/%s", name, kind.name), func(b *testing.B) { plugintest.BenchScore(b, pl, pod, nodes) })
			}
		}
	}
}
