package interconnect

import (
	"context"
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	configv1 "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/v1"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

type sizes map[string]int

func (s sizes) MinMember(_, name string) (int, bool) { n, ok := s[name]; return n, ok }

const (
	leafLabel   = "network.gpu-scheduler.io/ib-leaf"
	fabricLabel = "network.gpu-scheduler.io/ib-fabric"
)

// fabricNode is an idle 8-GPU node in a leaf of a fabric.
func fabricNode(name, leaf, fabric string) *v1.Node {
	return plugintest.GPUNode(name, "96", "768Gi", 8, leafLabel, leaf, fabricLabel, fabric)
}

func gangPod(name, group string, gpus int, annotations ...string) *v1.Pod {
	w := plugintest.GPUPod(name, "8", "32Gi", gpus).Label(v1alpha1.PodGroupLabel, group)
	for i := 0; i+1 < len(annotations); i += 2 {
		w.Annotation(annotations[i], annotations[i+1])
	}
	return w.Obj()
}

func newGangPlugin(t *testing.T, s sizes) *Interconnect {
	t.Helper()
	p, err := NewWithGangSizer(s)(context.Background(), plugintest.Args(t, &configv1.InterconnectArgs{}, &config.InterconnectArgs{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Interconnect)
}

// cluster: fabric f1 holds 2 nodes (one leaf), fabric f2 holds 4 (two leaves of 2).
func cluster(pods ...*v1.Pod) []fwk.NodeInfo {
	nodes := []*v1.Node{
		fabricNode("a1", "l1", "f1"), fabricNode("a2", "l1", "f1"),
		fabricNode("b1", "l2", "f2"), fabricNode("b2", "l2", "f2"), fabricNode("b3", "l3", "f2"), fabricNode("b4", "l3", "f2"),
	}
	var out []fwk.NodeInfo
	for _, n := range nodes {
		var here []*v1.Pod
		for _, p := range pods {
			if p.Spec.NodeName == n.Name {
				here = append(here, p)
			}
		}
		out = append(out, plugintest.NodeInfo(n, here...))
	}
	return out
}

func preFilter(t *testing.T, pl *Interconnect, pod *v1.Pod, nodes []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	t.Helper()
	return pl.PreFilter(context.Background(), framework.NewCycleState(), pod, nodes)
}

func TestGangPlanning(t *testing.T) {
	placed := func(name, group, node string) *v1.Pod {
		p := gangPod(name, group, 8)
		p.Spec.NodeName = node
		return p
	}
	tests := []struct {
		name  string
		sizes sizes
		pod   *v1.Pod
		nodes []fwk.NodeInfo
		want  []string // allowed nodes; nil for any
		fails string   // a reason substring when the Pod is rejected
	}{
		{name: "a 2 x 8 gang goes to the smallest leaf that holds it", sizes: sizes{"g": 2}, pod: gangPod("m0", "g", 8), nodes: cluster(),
			want: []string{"a1", "a2"}},
		{name: "a 4 x 8 gang needs a whole fabric", sizes: sizes{"g": 4}, pod: gangPod("m0", "g", 8), nodes: cluster(),
			want: []string{"b1", "b2", "b3", "b4"}},
		{name: "later members join the leaf their gang occupies", sizes: sizes{"g": 2}, pod: gangPod("m1", "g", 8),
			nodes: cluster(placed("m0", "g", "b3")), want: []string{"b3", "b4"}},
		{name: "required fabric: no fabric holds 6 x 8", sizes: sizes{"g": 6}, pod: gangPod("m0", "g", 8, gpu.TopologyRequiredAnnotation, "ib-fabric"),
			nodes: cluster(), fails: "no ib-fabric domain has room for the whole gang g (6 more pods of 8 GPUs), largest ib-fabric domain f2 has room for 4 of 6 members"},
		{name: "preferred only: a gang too big for any fabric may spread", sizes: sizes{"g": 6}, pod: gangPod("m0", "g", 8, gpu.TopologyPreferredAnnotation, "ib-fabric"),
			nodes: cluster(), want: nil},
		{name: "unknown level", sizes: sizes{"g": 2}, pod: gangPod("m0", "g", 8, gpu.TopologyRequiredAnnotation, "galaxy"),
			nodes: cluster(), fails: `unknown topology level "galaxy"`},
		{name: "a Pod in no gang is not planned", sizes: sizes{}, pod: plugintest.GPUPod("solo", "1", "1Gi", 8).Obj(), nodes: cluster(), want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, status := preFilter(t, newGangPlugin(t, tt.sizes), tt.pod, tt.nodes)
			if tt.fails != "" {
				// No eviction helps: preemption does not simulate the gang plan.
				if status.Code() != fwk.UnschedulableAndUnresolvable || !strings.Contains(status.Message(), tt.fails) {
					t.Fatalf("status = %v, want UnschedulableAndUnresolvable containing %q", status, tt.fails)
				}
				return
			}
			if !status.IsSuccess() && !status.IsSkip() {
				t.Fatalf("status = %v", status)
			}
			var got []string
			if !res.AllNodes() {
				got = sets.List(res.NodeNames)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("allowed nodes = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGangLocalityScore(t *testing.T) {
	m0 := gangPod("m0", "g", 4)
	m0.Spec.NodeName = "b1"
	pl := newGangPlugin(t, sizes{"g": 8})
	nodes := cluster(m0)
	pod := gangPod("m1", "g", 4)
	state := framework.NewCycleState()
	if _, s := pl.PreFilter(context.Background(), state, pod, nodes); !s.IsSuccess() {
		t.Fatal(s)
	}
	if s := pl.PreScore(context.Background(), state, pod, nodes); !s.IsSuccess() {
		t.Fatal(s)
	}
	scores := map[string]int64{}
	for _, ni := range nodes {
		s, status := pl.Score(context.Background(), state, pod, ni)
		if !status.IsSuccess() {
			t.Fatal(status)
		}
		scores[ni.Node().Name] = s
	}
	// Same leaf (b1, b2) above same fabric only (b3, b4) above another fabric (a1, a2).
	if !(scores["b1"] == scores["b2"] && scores["b2"] > scores["b3"] && scores["b3"] == scores["b4"] && scores["b4"] > scores["a1"]) {
		t.Errorf("scores = %v", scores)
	}
}

func TestGangQueueingHints(t *testing.T) {
	pl := newGangPlugin(t, sizes{"g": 2})
	logger := klog.Background()
	member := gangPod("m", "g", 8)
	solo := plugintest.GPUPod("solo", "1", "1Gi", 1).Obj()
	assigned := plugintest.GPUPod("a", "1", "1Gi", 8).Node("b1").Obj()
	unassigned := plugintest.GPUPod("u", "1", "1Gi", 8).Obj()
	for _, tt := range []struct {
		name string
		hint func() (fwk.QueueingHint, error)
		want fwk.QueueingHint
	}{
		{"gang member, assigned pod deleted", func() (fwk.QueueingHint, error) { return pl.isSchedulableAfterPodChange(logger, member, assigned, nil) }, fwk.Queue},
		{"gang member, unassigned pod deleted", func() (fwk.QueueingHint, error) {
			return pl.isSchedulableAfterPodChange(logger, member, unassigned, nil)
		}, fwk.QueueSkip},
		{"single pod, assigned pod deleted", func() (fwk.QueueingHint, error) { return pl.isSchedulableAfterPodChange(logger, solo, assigned, nil) }, fwk.QueueSkip},
		{"gang member, node added", func() (fwk.QueueingHint, error) {
			return pl.isSchedulableAfterNodeChange(logger, member, nil, fabricNode("n", "l9", "f9"))
		}, fwk.Queue},
	} {
		got, err := tt.hint()
		if err != nil || got != tt.want {
			t.Errorf("%s: hint = %v (%v), want %v", tt.name, got, err, tt.want)
		}
	}
}

// BenchmarkGangPlan is one gang member's plan at 5,000 nodes in 4 topology levels (leaves of 20
// nodes, fabrics of 200, racks of 10, 2 zones), 4 one-GPU Pods per node: the first member of a
// 32 x 4-GPU gang that needs a fabric (no leaf has room for it), and a member of a 16 x 4-GPU gang
// with 3 members placed in one leaf.
func BenchmarkGangPlan(b *testing.B) {
	const nodes, perLeaf, perFabric, perRack = 5000, 20, 200, 10
	var infos []fwk.NodeInfo
	for i := range nodes {
		n := plugintest.GPUNode(fmt.Sprintf("n%d", i), "96", "768Gi", 8,
			leafLabel, fmt.Sprintf("l%d", i/perLeaf), fabricLabel, fmt.Sprintf("f%d", i/perFabric),
			"topology.gpu-scheduler.io/rack", fmt.Sprintf("r%d", i/perRack), "topology.kubernetes.io/zone", fmt.Sprintf("z%d", i%2))
		var pods []*v1.Pod
		for j := range 4 {
			p := plugintest.GPUPod(fmt.Sprintf("p%d-%d", i, j), "4", "16Gi", 1).Obj()
			p.Spec.NodeName = n.Name
			pods = append(pods, p)
		}
		if i < 3 {
			m := gangPod(fmt.Sprintf("placed-%d", i), "placed", 4)
			m.Spec.NodeName = n.Name
			pods = append(pods, m)
		}
		infos = append(infos, plugintest.NodeInfo(n, pods...))
	}
	p, err := NewWithGangSizer(sizes{"first": 32, "placed": 16})(context.Background(), plugintest.Args(b, &configv1.InterconnectArgs{}, &config.InterconnectArgs{}), nil)
	if err != nil {
		b.Fatal(err)
	}
	pl := p.(*Interconnect)
	for _, tc := range []struct {
		name  string
		pod   *v1.Pod
		nodes int // in the plan's domain
	}{
		{"first member", gangPod("first-0", "first", 4, gpu.TopologyRequiredAnnotation, "zone"), perFabric},
		{"placed members", gangPod("placed-next", "placed", 4, gpu.TopologyRequiredAnnotation, "ib-fabric"), perLeaf},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if p, st := pl.planGang(context.Background(), nil, tc.pod, infos); !st.IsSuccess() || p == nil || p.restrict.Len() != tc.nodes {
					b.Fatalf("plan %+v, %v; want a domain of %d nodes", p, st, tc.nodes)
				}
			}
		})
	}
}
