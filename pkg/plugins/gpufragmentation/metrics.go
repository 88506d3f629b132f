package gpufragmentation

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blang/semver/v4"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// Metric states: what part of the GPU capacity a sample measures, in the order samples are served.
const (
	stateAllocated  = "allocated"
	stateCapacity   = "capacity"
	stateFragmented = "fragmented"
	stateStranded   = "stranded"
)

// nodeGPUMilliName is the per-node gauge, the one --disabled-metrics may drop.
const nodeGPUMilliName = "gpu_scheduler_node_gpu_milli"

var (
	nodeGPUMilli = metrics.NewDesc(nodeGPUMilliName,
		"GPU capacity of a node in thousandths of a GPU, by state: capacity, allocated, fragmented (the expected fragmentation GPUFragmentation scores by, under the learned workload), stranded (free but unusable for lack of CPU or memory).",
		[]string{"node", "state"}, nil, metrics.ALPHA, "")
	clusterGPUMilli = metrics.NewDesc("gpu_scheduler_cluster_gpu_milli",
		"GPU capacity of the cluster in thousandths of a GPU, by state, summed over nodes (see gpu_scheduler_node_gpu_milli).",
		[]string{"state"}, nil, metrics.ALPHA, "")
	gauges          = &gaugeCollector{}
	registerMetrics sync.Once
)

// gaugeCollector serves the GPU gauges of the last report. A report builds every sample once, in
// label order, and swaps them in whole, so a scrape only encodes them and the registry's sort finds
// them in order: about 1 µs a sample, where a GaugeVec's children cost 2.7 times as much (a
// 5,000-node cluster has 20,000; docs/results.md). A scrape never sees a report half done either.
type gaugeCollector struct {
	metrics.BaseStableCollector
	samples atomic.Pointer[[]metrics.Metric]
}

// DescribeWithStability implements metrics.StableCollector.
func (*gaugeCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- nodeGPUMilli
	ch <- clusterGPUMilli
}

// Reset drops the samples until the next report, as the registry's reset does to its other metrics.
func (c *gaugeCollector) Reset() { c.samples.Store(nil) }

// CollectWithStability implements metrics.StableCollector.
func (c *gaugeCollector) CollectWithStability(ch chan<- metrics.Metric) {
	if samples := c.samples.Load(); samples != nil {
		for _, m := range *samples {
			ch <- m
		}
	}
}

// reportInterval is how often the gauges are recomputed from the informers' view of the cluster.
const reportInterval = 15 * time.Second

// reporter recomputes the GPU gauges from the API's Pods and Nodes (not the scheduler's cache,
// which belongs to the scheduling loop).
type reporter struct {
	nodes      corelisters.NodeLister
	pods       corelisters.PodLister
	workload   func() *gpu.Workload
	modelLabel string
	// handle reaches the DRA manager, whose devices are GPUs too (nil: device-plugin GPUs alone).
	handle fwk.Handle
	dra    gpu.DRAReader
	// published is what this reporter last served, so that it withdraws its own samples only.
	published *[]metrics.Metric
	// perNode is false when kube-scheduler's --disabled-metrics names the per-node gauge (a large
	// cluster may not want a sample per node and state); the cluster totals stay.
	perNode bool
}

// newReporter reports from the informers of f.
func newReporter(f informers.SharedInformerFactory, workload func() *gpu.Workload, modelLabel string) *reporter {
	return &reporter{nodes: f.Core().V1().Nodes().Lister(), pods: f.Core().V1().Pods().Lister(), workload: workload, modelLabel: modelLabel,
		perNode: !disabledByFlag(nodeGPUMilliName)}
}

// disabledByFlag reports whether kube-scheduler's --disabled-metrics names the metric. The flag
// reaches component-base's own metric types, not a custom collector's samples: ask one of those.
func disabledByFlag(name string) bool {
	probe := metrics.NewGauge(&metrics.GaugeOpts{Name: name, Help: name, StabilityLevel: metrics.ALPHA})
	return !probe.Create(&semver.Version{})
}

// startReporting registers the gauges and updates them until ctx ends; then they are withdrawn, not
// left to go stale. The simulator's framework has no client, and no metrics to serve: it does not
// report.
func (pl *GPUFragmentation) startReporting(ctx context.Context, h fwk.Handle) {
	if h == nil || h.ClientSet() == nil || h.SharedInformerFactory() == nil {
		return
	}
	registerMetrics.Do(func() { legacyregistry.CustomMustRegister(gauges) })
	r := newReporter(h.SharedInformerFactory(), pl.workload, pl.modelLabel)
	r.handle = h
	go r.run(ctx)
}

// run reports every reportInterval until ctx ends, then withdraws what it served (and only that:
// another profile's reporter may have served since).
func (r *reporter) run(ctx context.Context) {
	ticker := time.NewTicker(reportInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			gauges.samples.CompareAndSwap(r.published, nil)
			return
		case <-ticker.C:
			if err := r.report(ctx); err != nil {
				klog.FromContext(ctx).Error(err, "Updating GPU metrics")
			}
		}
	}
}

func (r *reporter) report(ctx context.Context) error {
	nodes, err := r.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	inv, err := r.dra.Read(ctx, r.handle)
	if err != nil {
		return err
	}
	view := gpu.NewView(nil, inv)
	pods, err := r.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	byNode := map[string][]*v1.Pod{}
	for _, p := range pods {
		if p.Spec.NodeName != "" && p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed {
			byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	w := r.workload()
	samples := make([]metrics.Metric, 0, 4*len(nodes)+4)
	var total gpu.Usage
	for _, n := range nodes {
		ni := framework.NewNodeInfo(byNode[n.Name]...)
		ni.SetNode(n)
		u := gpu.NodeUsage(ni, view, w, r.modelLabel)
		if u.Capacity == 0 {
			continue
		}
		if r.perNode {
			// Most nodes have nothing fragmented or stranded (full, or free for every shape):
			// those zeros are left out, up to half of what a large cluster serves and the scraper
			// stores. The cluster totals keep all four.
			samples = appendUsage(samples, nodeGPUMilli, u, true, n.Name)
		}
		total.Capacity += u.Capacity
		total.Allocated += u.Allocated
		total.Fragmented += u.Fragmented
		total.Stranded += u.Stranded
	}
	samples = appendUsage(samples, clusterGPUMilli, total, false)
	r.published = &samples
	gauges.samples.Store(r.published)
	return nil
}

// appendUsage appends the samples of u, one per state, in label order; with sparse, fragmented
// and stranded only when not zero. A hidden metric yields none.
func appendUsage(samples []metrics.Metric, desc *metrics.Desc, u gpu.Usage, sparse bool, labelValues ...string) []metrics.Metric {
	for _, s := range []struct {
		state string
		value float64
	}{
		{stateAllocated, float64(u.Allocated)},
		{stateCapacity, float64(u.Capacity)},
		{stateFragmented, u.Fragmented},
		{stateStranded, float64(u.Stranded)},
	} {
		if sparse && s.value == 0 && (s.state == stateFragmented || s.state == stateStranded) {
			continue
		}
		if m := metrics.NewLazyConstMetric(desc, metrics.GaugeValue, s.value, append(labelValues, s.state)...); m != nil {
			samples = append(samples, m)
		}
	}
	return samples
}
