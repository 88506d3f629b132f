package sim

import (
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/names"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/antistranding"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpufit"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpumodel"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/interconnect"
)

// nodeLocalFilters are the Filter plugins whose verdict on a node depends only on the Pod and that
// node's NodeInfo (what PreFilter writes for them is computed from the Pod alone). Any other Filter
// plugin (PodTopologySpread, InterPodAffinity, the volume plugins, DRA) may look at other nodes or
// the API, so a Pod they do not skip is never memoised.
var nodeLocalFilters = sets.New(
	names.NodeUnschedulable, names.NodeName, names.TaintToleration, names.NodeAffinity,
	names.NodePorts, names.NodeResourcesFit,
	gpufit.Name, gpumodel.Name, interconnect.Name, antistranding.Name,
)

// maxMemoisedPods bounds the memo: past this many distinct Pod specs (one slot per node each), new
// specs are filtered without one.
const maxMemoisedPods = 1024

// filterMemo remembers each node's Filter verdict per Pod spec, with the node's generation when it
// was given. Pods of a trace come in few shapes (openb's default trace: 151), and placing a Pod
// changes one node, so the next Pod of the same shape finds every other node's verdict still valid:
// kube-scheduler's old equivalence cache, kept exact by the generation. Verdicts are the plugins'
// own; the memo only saves asking again when nothing they look at has changed.
type filterMemo struct {
	// filters are the profile's Filter plugins that are not node-local.
	filters []string
	byPod   map[string][]memoEntry
}

type memoEntry struct {
	generation int64 // 0: no verdict yet (NodeInfo generations start at 1)
	verdict    verdict
}

func newFilterMemo(filterPlugins []string) *filterMemo {
	m := &filterMemo{byPod: map[string][]memoEntry{}}
	for _, name := range filterPlugins {
		if !nodeLocalFilters.Has(name) {
			m.filters = append(m.filters, name)
		}
	}
	return m
}

// entries returns the verdicts for pod's spec, one per node, or nil when they cannot be memoised:
// a Filter plugin that is not node-local runs for this Pod, or the memo is full.
func (m *filterMemo) entries(state fwk.CycleState, pod *v1.Pod, nodes int) ([]memoEntry, error) {
	if m == nil {
		return nil, nil
	}
	skipped := state.GetSkipFilterPlugins()
	for _, name := range m.filters {
		if !skipped.Has(name) {
			return nil, nil
		}
	}
	key, err := podFilterKey(pod)
	if err != nil {
		return nil, err
	}
	e, ok := m.byPod[key]
	if !ok {
		if len(m.byPod) >= maxMemoisedPods {
			return nil, nil
		}
		e = make([]memoEntry, nodes)
		m.byPod[key] = e
	}
	return e, nil
}

// podFilterKey is what Filter plugins can read of a Pod: its spec, namespace, labels and annotations.
// Pods differing only in name, UID or timestamps get the same key.
func podFilterKey(pod *v1.Pod) (string, error) {
	spec, err := pod.Spec.Marshal()
	if err != nil {
		return "", fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	var b strings.Builder
	b.Write(spec)
	b.WriteByte(0)
	b.WriteString(pod.Namespace)
	for _, m := range []map[string]string{pod.Labels, pod.Annotations} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte(0)
		for _, k := range keys {
			// Lengths first: keys and values may hold any byte.
			fmt.Fprintf(&b, "%d:%s%d:%s", len(k), k, len(m[k]), m[k])
		}
	}
	return b.String(), nil
}
