package gpufragmentation

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	clientsetfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/component-base/metrics/testutil"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

func TestReportGauges(t *testing.T) {
	registerMetrics.Do(func() { legacyregistry.MustRegister(nodeGPUMilli, clusterGPUMilli) })
	f := informers.NewSharedInformerFactory(clientsetfake.NewClientset(), 0)
	add := func(obj interface{}) {
		var err error
		switch o := obj.(type) {
		case *v1.Node:
			err = f.Core().V1().Nodes().Informer().GetIndexer().Add(o)
		case *v1.Pod:
			err = f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// "busy": 2 GPUs, one whole and a 0.5 share taken, and only 1 core left: stranded for the
	// workload's 4-core GPU shape. "idle": 4 free GPUs, plenty of CPU. "cpu": no GPUs, not reported.
	add(plugintest.GPUNode("busy", "8", "64Gi", 2))
	add(plugintest.GPUNode("idle", "64", "256Gi", 4))
	add(plugintest.GPUNode("cpu", "64", "256Gi", 0))
	add(plugintest.GPUPod("whole", "6", "8Gi", 1).Node("busy").Obj())
	add(plugintest.GPUPod("half", "1", "1Gi", 0).Node("busy").Annotation(gpu.FractionAnnotation, "0.5").Annotation(gpu.GPUIndexAnnotation, "1").Obj())
	done := plugintest.GPUPod("done", "1", "1Gi", 1).Node("idle").Obj()
	done.Status.Phase = v1.PodSucceeded
	add(done)
	add(plugintest.GPUPod("pending", "1", "1Gi", 1).Obj())

	w := gpu.NewWorkload([]gpu.Shape{{MilliCPU: 4000, Memory: 1 << 30, GPUs: 1, GPUMilli: 1000, Weight: 1}})
	r := &reporter{nodes: f.Core().V1().Nodes().Lister(), pods: f.Core().V1().Pods().Lister(), workload: func() *gpu.Workload { return w }, modelLabel: gpu.DefaultModelLabel}
	if err := r.report(); err != nil {
		t.Fatal(err)
	}
	want := map[[2]string]float64{
		{"busy", stateCapacity}: 2000, {"busy", stateAllocated}: 1500, {"busy", stateStranded}: 500, {"busy", stateFragmented}: 500,
		{"idle", stateCapacity}: 4000, {"idle", stateAllocated}: 0, {"idle", stateStranded}: 0, {"idle", stateFragmented}: 0,
	}
	for k, v := range want {
		got, err := testutil.GetGaugeMetricValue(nodeGPUMilli.WithLabelValues(k[0], k[1]))
		if err != nil || got != v {
			t.Errorf("node %s %s = %v (%v), want %v", k[0], k[1], got, err, v)
		}
	}
	for state, v := range map[string]float64{stateCapacity: 6000, stateAllocated: 1500, stateStranded: 500, stateFragmented: 500} {
		got, err := testutil.GetGaugeMetricValue(clusterGPUMilli.WithLabelValues(state))
		if err != nil || got != v {
			t.Errorf("cluster %s = %v (%v), want %v", state, got, err, v)
		}
	}
	if n, _ := testutil.GetGaugeMetricValue(nodeGPUMilli.WithLabelValues("cpu", stateCapacity)); n != 0 {
		t.Errorf("a node without GPUs is reported: %v", n)
	}
}
