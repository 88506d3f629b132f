package gpufragmentation

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	clientsetfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

// scraped is what the scheduler's registry serves of the GPU gauges: "metric{labels}" to value, and
// the keys in the order served.
func scraped(t testing.TB) (map[string]float64, []string) {
	t.Helper()
	families, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	var order []string
	for _, f := range families {
		if f.GetName() != "gpu_scheduler_node_gpu_milli" && f.GetName() != "gpu_scheduler_cluster_gpu_milli" {
			continue
		}
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += fmt.Sprintf(" %s=%s", l.GetName(), l.GetValue())
			}
			values[key] = m.GetGauge().GetValue()
			order = append(order, key)
		}
	}
	return values, order
}

type fakeCluster struct {
	t testing.TB
	f informers.SharedInformerFactory
}

func newFakeCluster(t testing.TB) *fakeCluster {
	registerMetrics.Do(func() { legacyregistry.CustomMustRegister(gauges) })
	t.Cleanup(func() { gauges.samples.Store(nil) })
	return &fakeCluster{t: t, f: informers.NewSharedInformerFactory(clientsetfake.NewClientset(), 0)}
}

func (c *fakeCluster) add(objs ...interface{}) {
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *v1.Node:
			err = c.f.Core().V1().Nodes().Informer().GetIndexer().Add(o)
		case *v1.Pod:
			err = c.f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *fakeCluster) reporter(w *gpu.Workload) *reporter {
	return newReporter(c.f, func() *gpu.Workload { return w }, gpu.DefaultModelLabel)
}

func TestReportGauges(t *testing.T) {
	c := newFakeCluster(t)
	// "busy": 2 GPUs, one whole and a 0.5 share taken, and only 1 core left: stranded for the
	// workload's 4-core GPU shape. "idle": 4 free GPUs, plenty of CPU. "cpu": no GPUs, not reported.
	c.add(plugintest.GPUNode("idle", "64", "256Gi", 4), plugintest.GPUNode("busy", "8", "64Gi", 2), plugintest.GPUNode("cpu", "64", "256Gi", 0))
	c.add(plugintest.GPUPod("whole", "6", "8Gi", 1).Node("busy").Obj())
	c.add(plugintest.GPUPod("half", "1", "1Gi", 0).Node("busy").Annotation(gpu.FractionAnnotation, "0.5").Annotation(gpu.GPUIndexAnnotation, "1").Obj())
	done := plugintest.GPUPod("done", "1", "1Gi", 1).Node("idle").Obj()
	done.Status.Phase = v1.PodSucceeded
	c.add(done, plugintest.GPUPod("pending", "1", "1Gi", 1).Obj())

	w := gpu.NewWorkload([]gpu.Shape{{MilliCPU: 4000, Memory: 1 << 30, GPUs: 1, GPUMilli: 1000, Weight: 1}})
	if err := c.reporter(w).report(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, served := scraped(t)
	want := map[string]float64{
		"gpu_scheduler_node_gpu_milli node=busy state=allocated": 1500, "gpu_scheduler_node_gpu_milli node=busy state=capacity": 2000,
		"gpu_scheduler_node_gpu_milli node=busy state=fragmented": 500, "gpu_scheduler_node_gpu_milli node=busy state=stranded": 500,
		// A node's zero fragmented and stranded samples are left out; allocated and capacity stay.
		"gpu_scheduler_node_gpu_milli node=idle state=allocated": 0, "gpu_scheduler_node_gpu_milli node=idle state=capacity": 4000,
		"gpu_scheduler_cluster_gpu_milli state=allocated": 1500, "gpu_scheduler_cluster_gpu_milli state=capacity": 6000,
		"gpu_scheduler_cluster_gpu_milli state=fragmented": 500, "gpu_scheduler_cluster_gpu_milli state=stranded": 500,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (served: %v), want %v", k, g, ok, v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("served %d samples, want %d (a node without GPUs is not reported): %v", len(got), len(want), served)
	}
	// A node that is gone leaves no sample behind, and the rest change as a whole.
	idle, err := c.f.Core().V1().Nodes().Lister().Get("idle")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.f.Core().V1().Nodes().Informer().GetIndexer().Delete(idle); err != nil {
		t.Fatal(err)
	}
	if err := c.reporter(w).report(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ = scraped(t)
	if _, ok := got["gpu_scheduler_node_gpu_milli node=idle state=capacity"]; ok {
		t.Error("a deleted node is still reported")
	}
	if v := got["gpu_scheduler_cluster_gpu_milli state=capacity"]; v != 2000 {
		t.Errorf("cluster capacity after the delete = %v, want 2000", v)
	}
}

// The node samples are built in label order, so the registry's sort on every scrape has nothing to
// do (the informer lists nodes in no particular order).
func TestReportBuildsSamplesInLabelOrder(t *testing.T) {
	c := newFakeCluster(t)
	for i, name := range strings.Split("q w e r t y u i o p a s d f g h j k l z x c v b n m", " ") {
		c.add(plugintest.GPUNode(name, "64", "256Gi", 2))
		if i%2 == 0 {
			// Half a core left for the free GPU: all four states served for this node.
			c.add(plugintest.GPUPod("p-"+name, "63500m", "1Gi", 1).Node(name).Obj())
		}
	}
	w := gpu.NewWorkload([]gpu.Shape{{MilliCPU: 1000, Memory: 1 << 30, GPUs: 1, GPUMilli: 1000, Weight: 1}})
	if err := c.reporter(w).report(context.Background()); err != nil {
		t.Fatal(err)
	}
	var built []string
	for _, m := range *gauges.samples.Load() {
		var out dto.Metric
		if err := m.Write(&out); err != nil {
			t.Fatal(err)
		}
		if labels := out.GetLabel(); len(labels) == 2 {
			built = append(built, labels[0].GetValue()+" "+labels[1].GetValue())
		}
	}
	if !slices.IsSorted(built) || len(built) != 13*4+13*2 {
		t.Errorf("node samples built out of label order: %v", built)
	}
}

// kube-scheduler's --disabled-metrics drops the per-node samples (a sample per node and state may be
// too many for a large cluster's Prometheus); the totals stay.
func TestDisabledPerNodeGauge(t *testing.T) {
	metrics.SetDisabledMetrics([]string{"gpu_scheduler_test_disabled"})
	if !disabledByFlag("gpu_scheduler_test_disabled") || disabledByFlag("gpu_scheduler_test_enabled") {
		t.Fatal("--disabled-metrics misread")
	}
	c := newFakeCluster(t)
	c.add(plugintest.GPUNode("n", "64", "256Gi", 4))
	r := c.reporter(gpu.NewWorkload(nil))
	if !r.perNode {
		t.Fatal("per-node gauge off without the flag")
	}
	r.perNode = false
	if err := r.report(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, served := scraped(t)
	if len(got) != 4 || got["gpu_scheduler_cluster_gpu_milli state=capacity"] != 4000 {
		t.Errorf("served %v, want the four cluster totals only", served)
	}
}

// A framework that stops (a lost lease, a finished benchmark run) withdraws its gauges instead of
// leaving them frozen, but not those another profile's reporter served since.
func TestReportingStopsWithTheFramework(t *testing.T) {
	c := newFakeCluster(t)
	c.add(plugintest.GPUNode("n", "64", "256Gi", 4))
	w := gpu.NewWorkload([]gpu.Shape{{MilliCPU: 1000, Memory: 1 << 30, GPUs: 1, GPUMilli: 1000, Weight: 1}})
	stopped, cancel := context.WithCancel(context.Background())
	cancel()

	first, second := c.reporter(w), c.reporter(w)
	for _, r := range []*reporter{first, second} {
		if err := r.report(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	first.run(stopped)
	if got, _ := scraped(t); len(got) == 0 {
		t.Fatal("a stopped reporter withdrew the samples another one served")
	}
	second.run(stopped)
	if got, _ := scraped(t); len(got) != 0 {
		t.Fatalf("still served after the framework stopped: %v", got)
	}
}

// The registry's reset (DELETE on kube-scheduler's /metrics) empties the gauges until the next report.
func TestRegistryResetDropsTheGauges(t *testing.T) {
	c := newFakeCluster(t)
	c.add(plugintest.GPUNode("n", "64", "256Gi", 4))
	if err := c.reporter(gpu.NewWorkload(nil)).report(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := scraped(t); len(got) == 0 {
		t.Fatal("nothing served before the reset")
	}
	legacyregistry.HandlerWithReset().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodDelete, "/metrics", nil))
	if got, _ := scraped(t); len(got) != 0 {
		t.Fatalf("still served after a reset: %v", got)
	}
}

// BenchmarkScrape is one scrape of a 5,000-node cluster's gauges: ours as served (the nodes are
// empty, so nothing is fragmented or stranded: 10,000 samples), and all four states of every node
// in a GaugeVec as before (20,000). kube-scheduler gathers its whole registry on every scrape, and
// scheduler_perf once a second.
func BenchmarkScrape(b *testing.B) {
	var nodes []*v1.Node
	var objs []interface{}
	for i := range 5000 {
		n := plugintest.GPUNode(fmt.Sprintf("gpu-node-%05d", i), "64", "512Gi", 8)
		nodes = append(nodes, n)
		objs = append(objs, n)
	}
	b.Run("collector", func(b *testing.B) {
		c := newFakeCluster(b)
		c.add(objs...)
		w := gpu.NewWorkload([]gpu.Shape{{MilliCPU: 2000, Memory: 8 << 30, GPUs: 1, GPUMilli: 1000, Weight: 1}})
		if err := c.reporter(w).report(context.Background()); err != nil {
			b.Fatal(err)
		}
		// The same samples in a registry of their own: the scrape of the gauges alone.
		col := &gaugeCollector{}
		col.samples.Store(gauges.samples.Load())
		registry := metrics.NewKubeRegistry()
		registry.CustomMustRegister(col)
		gatherLoop(b, registry)
	})
	b.Run("GaugeVec", func(b *testing.B) {
		vec := metrics.NewGaugeVec(&metrics.GaugeOpts{Name: "gpu_scheduler_node_gpu_milli_vec", Help: "as before", StabilityLevel: metrics.ALPHA}, []string{"node", "state"})
		registry := metrics.NewKubeRegistry()
		registry.MustRegister(vec)
		for _, n := range nodes {
			for _, s := range []string{stateAllocated, stateCapacity, stateFragmented, stateStranded} {
				vec.WithLabelValues(n.Name, s).Set(1)
			}
		}
		gatherLoop(b, registry)
	})
}

func gatherLoop(b *testing.B, g metrics.Gatherer) {
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := g.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
