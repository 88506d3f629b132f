package gpufragmentation

import (
	"context"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// Metric states: what part of the GPU capacity a sample measures.
const (
	stateCapacity   = "capacity"
	stateAllocated  = "allocated"
	stateFragmented = "fragmented"
	stateStranded   = "stranded"
)

var (
	nodeGPUMilli = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Subsystem:      "gpu_scheduler",
		Name:           "node_gpu_milli",
		Help:           "GPU capacity of a node in thousandths of a GPU, by state: capacity, allocated, fragmented (FGD's expected fragmentation under the learned workload), stranded (free but unusable for lack of CPU or memory).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"node", "state"})
	clusterGPUMilli = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Subsystem:      "gpu_scheduler",
		Name:           "cluster_gpu_milli",
		Help:           "GPU capacity of the cluster in thousandths of a GPU, by state, summed over nodes (see gpu_scheduler_node_gpu_milli).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"state"})
	registerMetrics sync.Once
)

// reportInterval is how often the gauges are recomputed from the informers' view of the cluster.
const reportInterval = 15 * time.Second

// reporter recomputes the GPU gauges from the API's Pods and Nodes (not the scheduler's cache,
// which belongs to the scheduling loop).
type reporter struct {
	nodes      corelisters.NodeLister
	pods       corelisters.PodLister
	workload   func() *gpu.Workload
	modelLabel string
}

// startReporting registers the gauges and updates them until ctx ends. The simulator's framework has
// no client, and no metrics to serve: it does not report.
func (pl *GPUFragmentation) startReporting(ctx context.Context, h framework.Handle) {
	if h == nil || h.ClientSet() == nil || h.SharedInformerFactory() == nil {
		return
	}
	registerMetrics.Do(func() { legacyregistry.MustRegister(nodeGPUMilli, clusterGPUMilli) })
	f := h.SharedInformerFactory()
	r := &reporter{nodes: f.Core().V1().Nodes().Lister(), pods: f.Core().V1().Pods().Lister(), workload: pl.workload, modelLabel: pl.modelLabel}
	go func() {
		ticker := time.NewTicker(reportInterval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				if err := r.report(); err != nil {
					klog.FromContext(ctx).Error(err, "Updating GPU metrics")
				}
			}
		}
	}()
}

func (r *reporter) report() error {
	nodes, err := r.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
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
	w := r.workload()
	nodeGPUMilli.Reset()
	var total gpu.Usage
	for _, n := range nodes {
		ni := framework.NewNodeInfo(byNode[n.Name]...)
		ni.SetNode(n)
		u := gpu.NodeUsage(ni, w, r.modelLabel)
		if u.Capacity == 0 {
			continue
		}
		setUsage(u, func(state string) metrics.GaugeMetric { return nodeGPUMilli.WithLabelValues(n.Name, state) })
		total.Capacity += u.Capacity
		total.Allocated += u.Allocated
		total.Fragmented += u.Fragmented
		total.Stranded += u.Stranded
	}
	setUsage(total, func(state string) metrics.GaugeMetric { return clusterGPUMilli.WithLabelValues(state) })
	return nil
}

func setUsage(u gpu.Usage, gauge func(state string) metrics.GaugeMetric) {
	gauge(stateCapacity).Set(float64(u.Capacity))
	gauge(stateAllocated).Set(float64(u.Allocated))
	gauge(stateFragmented).Set(u.Fragmented)
	gauge(stateStranded).Set(float64(u.Stranded))
}
