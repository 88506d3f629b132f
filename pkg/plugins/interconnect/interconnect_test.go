package interconnect

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config"
	configv1 "github.com/gpu-scheduler/gpu-scheduler/pkg/apis/config/v1"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
)

const (
	ibLabel     = gpu.InterconnectLabelPrefix + "infiniband"
	roceLabel   = gpu.InterconnectLabelPrefix + "roce"
	nvlinkLabel = gpu.InterconnectLabelPrefix + "nvlink"
	cliqueLabel = "nvidia.com/gpu.clique"
)

func newPlugin(t *testing.T, versioned *configv1.InterconnectArgs) *Interconnect {
	t.Helper()
	pl, err := New(context.Background(), plugintest.Args(t, versioned, &config.InterconnectArgs{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return pl.(*Interconnect)
}

// icPod is a 1-GPU Pod with the given required and preferred interconnect annotations; an empty
// string leaves the annotation out.
func icPod(required, preferred string) *v1.Pod {
	p := plugintest.GPUPod("p", "1", "1Gi", 1)
	if required != "" {
		p.Annotation(gpu.InterconnectAnnotation, required)
	}
	if preferred != "" {
		p.Annotation(gpu.PreferredInterconnectAnnotation, preferred)
	}
	return p.Obj()
}

// icNode is an 8-GPU node with the given labels in key, value pairs.
func icNode(name string, labels ...string) *v1.Node {
	return plugintest.GPUNode(name, "96", "768Gi", 8, labels...)
}

func missing(name string) *fwk.Status {
	return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node(s) lack the required interconnect "+name)
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name     string
		required string
		// preferred, when set, is the preferred-interconnect annotation.
		preferred string
		node      *v1.Node
		want      *fwk.Status
	}{
		{name: "pod without wants skips", node: icNode("n")},
		{name: "preferred only skips Filter", preferred: "infiniband", node: icNode("n")},
		{name: "required infiniband present", required: "infiniband", node: icNode("n", ibLabel, "true")},
		{name: "required in another case", required: "InfiniBand", node: icNode("n", ibLabel, "true")},
		{name: "required infiniband absent", required: "infiniband", node: icNode("n"),
			want: missing("infiniband")},
		{name: "label with the wrong value", required: "infiniband", node: icNode("n", ibLabel, "false"),
			want: missing("infiniband")},
		{name: "another interconnect does not do", required: "infiniband", node: icNode("n", roceLabel, "true", nvlinkLabel, "true"),
			want: missing("infiniband")},
		{name: "both required present", required: "infiniband,nvlink", node: icNode("n", ibLabel, "true", nvlinkLabel, "true")},
		{name: "second required missing", required: "infiniband|nvlink", node: icNode("n", ibLabel, "true"),
			want: missing("nvlink")},
		// Two missing: the reason names the first in configuration order, not annotation order.
		{name: "two missing name the first", required: "nvlink|infiniband", node: icNode("n"),
			want: missing("infiniband")},
		{name: "two missing of three", required: "roce|nvlink|infiniband", node: icNode("n", ibLabel, "true"),
			want: missing("roce")},
		{name: "value-less label reveals nvlink", required: "nvlink", node: icNode("n", cliqueLabel, "cluster-a.7")},
		{name: "value-less label with an empty value reveals nvlink", required: "nvlink", node: icNode("n", cliqueLabel, "")},
		{name: "required beside a preferred one", required: "roce", preferred: "nvlink", node: icNode("n", roceLabel, "true")},
		{name: "unknown interconnect", required: "ethernet", node: icNode("n", ibLabel, "true"),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable,
				`annotation gpu-scheduler.io/interconnect: unknown interconnect "ethernet" (known: infiniband, nvlink, roce)`)},
		{name: "unknown preferred interconnect", required: "infiniband", preferred: "ethernet", node: icNode("n", ibLabel, "true"),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable,
				`annotation gpu-scheduler.io/preferred-interconnect: unknown interconnect "ethernet" (known: infiniband, nvlink, roce)`)},
		{name: "unknown preferred interconnect without required", preferred: "ethernet", node: icNode("n"),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable,
				`annotation gpu-scheduler.io/preferred-interconnect: unknown interconnect "ethernet" (known: infiniband, nvlink, roce)`)},
	}
	pl := newPlugin(t, &configv1.InterconnectArgs{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plugintest.Filter(t, pl, icPod(tt.required, tt.preferred), plugintest.NodeInfo(tt.node))
			if !got.Equal(tt.want) {
				t.Errorf("status = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPreFilterMalformed(t *testing.T) {
	tests := []struct {
		name, annotation, value, wantErr string
	}{
		{name: "empty required", annotation: gpu.InterconnectAnnotation, value: "", wantErr: "empty list"},
		{name: "empty entry", annotation: gpu.InterconnectAnnotation, value: "infiniband||roce", wantErr: "has an empty entry"},
		{name: "invalid characters", annotation: gpu.InterconnectAnnotation, value: "info band", wantErr: "is not a valid label value"},
		{name: "malformed preferred", annotation: gpu.PreferredInterconnectAnnotation, value: "nvlink|", wantErr: "has an empty entry"},
	}
	pl := newPlugin(t, &configv1.InterconnectArgs{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := plugintest.GPUPod("p", "1", "1Gi", 1).Annotation(tt.annotation, tt.value).Obj()
			_, status := pl.PreFilter(context.Background(), framework.NewCycleState(), pod, nil)
			if status.Code() != fwk.UnschedulableAndUnresolvable {
				t.Fatalf("status = %v, want UnschedulableAndUnresolvable", status)
			}
			if msg := status.Message(); !strings.Contains(msg, "annotation "+tt.annotation+":") || !strings.Contains(msg, tt.wantErr) {
				t.Errorf("message %q, want it to name %s and hold %q", msg, tt.annotation, tt.wantErr)
			}
		})
	}
}

func TestScore(t *testing.T) {
	none := icNode("none")
	ib := icNode("ib", ibLabel, "true")
	roce := icNode("roce", roceLabel, "true")
	ibNVLink := icNode("ib-nvlink", ibLabel, "true", cliqueLabel, "c1")
	all := icNode("all", ibLabel, "true", roceLabel, "true", nvlinkLabel, "true")
	tests := []struct {
		name                string
		required, preferred string
		nodes               []*v1.Node
		// want is exact: with the 3 default interconnects, a node scores
		// 100 * (2*preferredHits + 3 - unwanted) / (2*preferred + 3).
		want []int64
	}{
		{name: "preferred interconnect wins", preferred: "infiniband", nodes: []*v1.Node{ib, none, roce}, want: []int64{100, 60, 40}},
		{name: "two preferred", preferred: "infiniband|nvlink", nodes: []*v1.Node{ibNVLink, ib, none, all}, want: []int64{100, 71, 42, 85}},
		// The point: a Pod that wants no premium interconnect keeps off the nodes that have one.
		{name: "no wants prefers plain nodes", nodes: []*v1.Node{none, ib, all}, want: []int64{100, 66, 0}},
		{name: "required only prefers no extras", required: "infiniband", nodes: []*v1.Node{ib, ibNVLink, all}, want: []int64{100, 66, 33}},
		{name: "preferred also required counts as required", required: "infiniband", preferred: "infiniband", nodes: []*v1.Node{ib, ibNVLink}, want: []int64{100, 66}},
		{name: "all equal", nodes: []*v1.Node{none, icNode("none2")}, want: nil}, // every node offers the same: Score is skipped
	}
	pl := newPlugin(t, &configv1.InterconnectArgs{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nis := make([]fwk.NodeInfo, len(tt.nodes))
			for i, n := range tt.nodes {
				nis[i] = plugintest.NodeInfo(n)
			}
			got := plugintest.Score(t, pl, icPod(tt.required, tt.preferred), nis)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("scores = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestScoreRange scores every combination of the default interconnects on nodes for Pods asking for
// every combination of them; plugintest.Score fails on a score outside [0, 100].
func TestScoreRange(t *testing.T) {
	names := []string{"infiniband", "roce", "nvlink"}
	labels := []string{ibLabel, roceLabel, nvlinkLabel}
	var nis []fwk.NodeInfo
	for mask := 0; mask < 8; mask++ {
		var kv []string
		for i := range labels {
			if mask&(1<<i) != 0 {
				kv = append(kv, labels[i], "true")
			}
		}
		nis = append(nis, plugintest.NodeInfo(icNode(fmt.Sprintf("n%d", mask), kv...)))
	}
	list := func(mask int) string {
		var out []string
		for i := range names {
			if mask&(1<<i) != 0 {
				out = append(out, names[i])
			}
		}
		return strings.Join(out, "|")
	}
	pl := newPlugin(t, &configv1.InterconnectArgs{})
	for req := 0; req < 8; req++ {
		for pref := 0; pref < 8; pref++ {
			scores := plugintest.Score(t, pl, icPod(list(req), list(pref)), nis)
			// The node with exactly what the Pod asks for scores best.
			if best := scores[req|pref]; best != 100 {
				t.Errorf("required %q preferred %q: node with exactly those scores %d, want 100", list(req), list(pref), best)
			}
		}
	}
}

func TestPreScoreMalformed(t *testing.T) {
	pl := newPlugin(t, &configv1.InterconnectArgs{})
	status := pl.PreScore(context.Background(), framework.NewCycleState(), icPod("", "ethernet"), nil)
	if status.Code() != fwk.Error || !strings.Contains(status.Message(), `unknown interconnect "ethernet"`) {
		t.Errorf("status = %v, want an Error naming the unknown interconnect", status)
	}
}

func TestCustomInterconnects(t *testing.T) {
	pl := newPlugin(t, &configv1.InterconnectArgs{Interconnects: []configv1.InterconnectType{
		{Name: "slingshot", NodeLabels: []configv1.NodeLabel{{Key: "example.com/fabric", Value: "slingshot"}}},
		{Name: "efa", NodeLabels: []configv1.NodeLabel{{Key: "example.com/efa"}, {Key: "example.com/fabric", Value: "efa"}}},
	}})
	tests := []struct {
		name     string
		required string
		node     *v1.Node
		want     *fwk.Status
	}{
		{name: "custom label and value", required: "slingshot", node: icNode("n", "example.com/fabric", "slingshot")},
		{name: "custom value-less label", required: "efa", node: icNode("n", "example.com/efa", "yes")},
		{name: "second custom label", required: "efa", node: icNode("n", "example.com/fabric", "efa")},
		{name: "custom label with another value", required: "slingshot", node: icNode("n", "example.com/fabric", "efa"),
			want: missing("slingshot")},
		{name: "default labels mean nothing", required: "slingshot", node: icNode("n", ibLabel, "true"),
			want: missing("slingshot")},
		{name: "default names are unknown", required: "infiniband", node: icNode("n", ibLabel, "true"),
			want: fwk.NewStatus(fwk.UnschedulableAndUnresolvable,
				`annotation gpu-scheduler.io/interconnect: unknown interconnect "infiniband" (known: efa, slingshot)`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plugintest.Filter(t, pl, icPod(tt.required, ""), plugintest.NodeInfo(tt.node))
			if !got.Equal(tt.want) {
				t.Errorf("status = %v, want %v", got, tt.want)
			}
		})
	}
	// Scores follow the custom set too: 2 known, none wanted.
	got := plugintest.Score(t, pl, icPod("", ""), []fwk.NodeInfo{
		plugintest.NodeInfo(icNode("plain", ibLabel, "true")),
		plugintest.NodeInfo(icNode("efa", "example.com/efa", "")),
	})
	if want := []int64{100, 50}; !reflect.DeepEqual(got, want) {
		t.Errorf("scores = %v, want %v", got, want)
	}
}

// TestSixtyFourInterconnects checks the largest configuration: the last interconnect takes the top
// bit of the set.
func TestSixtyFourInterconnects(t *testing.T) {
	ics := make([]configv1.InterconnectType, 64)
	for i := range ics {
		ics[i] = configv1.InterconnectType{Name: fmt.Sprintf("ic%d", i), NodeLabels: []configv1.NodeLabel{{Key: fmt.Sprintf("example.com/ic%d", i)}}}
	}
	pl := newPlugin(t, &configv1.InterconnectArgs{Interconnects: ics})
	pod := icPod("ic63", "")
	if got := plugintest.Filter(t, pl, pod, plugintest.NodeInfo(icNode("n", "example.com/ic63", ""))); got != nil {
		t.Errorf("node with ic63: status = %v, want success", got)
	}
	if got, want := plugintest.Filter(t, pl, pod, plugintest.NodeInfo(icNode("n", "example.com/ic62", ""))), missing("ic63"); !got.Equal(want) {
		t.Errorf("node without ic63: status = %v, want %v", got, want)
	}
}

func TestNew(t *testing.T) {
	ib := config.InterconnectType{Name: "infiniband", NodeLabels: []config.NodeLabel{{Key: ibLabel, Value: "true"}}}
	tooMany := make([]config.InterconnectType, 65)
	for i := range tooMany {
		tooMany[i] = config.InterconnectType{Name: fmt.Sprintf("ic%d", i), NodeLabels: []config.NodeLabel{{Key: "example.com/ic"}}}
	}
	tests := []struct {
		name    string
		ics     []config.InterconnectType
		wantErr string
	}{
		{name: "one interconnect", ics: []config.InterconnectType{ib}},
		{name: "none", ics: nil},
		{name: "duplicate names", ics: []config.InterconnectType{ib, ib},
			wantErr: `pluginConfig.Interconnect.args.interconnects[1].name: Duplicate value: "infiniband"`},
		{name: "empty name", ics: []config.InterconnectType{{NodeLabels: ib.NodeLabels}},
			wantErr: "pluginConfig.Interconnect.args.interconnects[0].name: Required value"},
		{name: "upper-case name", ics: []config.InterconnectType{ib, {Name: "RoCE", NodeLabels: ib.NodeLabels}},
			wantErr: `pluginConfig.Interconnect.args.interconnects[1].name: Invalid value: "RoCE"`},
		{name: "no node labels", ics: []config.InterconnectType{{Name: "infiniband"}},
			wantErr: "pluginConfig.Interconnect.args.interconnects[0].nodeLabels: Required value"},
		{name: "empty key", ics: []config.InterconnectType{{Name: "infiniband", NodeLabels: []config.NodeLabel{{Value: "true"}}}},
			wantErr: "pluginConfig.Interconnect.args.interconnects[0].nodeLabels[0].key: Required value"},
		{name: "bad key", ics: []config.InterconnectType{{Name: "infiniband", NodeLabels: []config.NodeLabel{{Key: ibLabel}, {Key: "bad key"}}}},
			wantErr: `pluginConfig.Interconnect.args.interconnects[0].nodeLabels[1].key: Invalid value: "bad key"`},
		{name: "bad value", ics: []config.InterconnectType{{Name: "infiniband", NodeLabels: []config.NodeLabel{{Key: ibLabel, Value: "not ok"}}}},
			wantErr: `pluginConfig.Interconnect.args.interconnects[0].nodeLabels[0].value: Invalid value: "not ok"`},
		{name: "too many", ics: tooMany,
			wantErr: "pluginConfig.Interconnect.args.interconnects: Too many: 65: must have at most 64 items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), &config.InterconnectArgs{Interconnects: tt.ics}, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New: error %v, want one holding %q", err, tt.wantErr)
			}
		})
	}
	if _, err := New(context.Background(), &config.GPUModelArgs{}, nil); err == nil || !strings.Contains(err.Error(), "*config.InterconnectArgs") {
		t.Errorf("New with another plugin's args: error %v, want one naming the args type", err)
	}
}

func TestQueueingHints(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	pl := newPlugin(t, &configv1.InterconnectArgs{})
	needsIB := icPod("infiniband", "")
	tests := []struct {
		name           string
		pod            *v1.Pod
		oldObj, newObj interface{}
		want           fwk.QueueingHint
	}{
		{name: "node with the required interconnect added", pod: needsIB, newObj: icNode("n", ibLabel, "true"), want: fwk.Queue},
		{name: "node without it added", pod: needsIB, newObj: icNode("n", roceLabel, "true"), want: fwk.QueueSkip},
		{name: "node labelled with it", pod: needsIB, oldObj: icNode("n"), newObj: icNode("n", ibLabel, "true"), want: fwk.Queue},
		{name: "label value fixed", pod: needsIB, oldObj: icNode("n", ibLabel, "false"), newObj: icNode("n", ibLabel, "true"), want: fwk.Queue},
		{name: "node had it already", pod: needsIB, oldObj: icNode("n", ibLabel, "true"), newObj: icNode("n", ibLabel, "true", "x", "y"), want: fwk.QueueSkip},
		{name: "node lost it", pod: needsIB, oldObj: icNode("n", ibLabel, "true"), newObj: icNode("n"), want: fwk.QueueSkip},
		{name: "node gained one of two required", pod: icPod("infiniband|nvlink", ""), oldObj: icNode("n"), newObj: icNode("n", ibLabel, "true"), want: fwk.QueueSkip},
		{name: "node gained the second of two required", pod: icPod("infiniband|nvlink", ""), oldObj: icNode("n", ibLabel, "true"),
			newObj: icNode("n", ibLabel, "true", cliqueLabel, "c"), want: fwk.Queue},
		{name: "pod with preferred only", pod: icPod("", "infiniband"), newObj: icNode("n", ibLabel, "true"), want: fwk.QueueSkip},
		{name: "pod without wants", pod: icPod("", ""), newObj: icNode("n", ibLabel, "true"), want: fwk.QueueSkip},
		{name: "pod with an unknown interconnect", pod: icPod("ethernet", ""), newObj: icNode("n", ibLabel, "true"), want: fwk.QueueSkip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pl.isSchedulableAfterNodeChange(logger, tt.pod, tt.oldObj, tt.newObj)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("hint = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEventsToRegister(t *testing.T) {
	events, err := newPlugin(t, &configv1.InterconnectArgs{}).EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []fwk.ClusterEvent{
		{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel},
		{Resource: fwk.Pod, ActionType: fwk.Delete | fwk.UpdatePodScaleDown},
	}
	if len(events) != len(want) {
		t.Fatalf("got %d events, want %d", len(events), len(want))
	}
	for i := range want {
		if events[i].Event != want[i] || events[i].QueueingHintFn == nil {
			t.Errorf("event %v (hint set %v), want %v with a hint", events[i].Event, events[i].QueueingHintFn != nil, want[i])
		}
	}
}

// A node relabelled gets a new NodeInfo generation, so the cached interconnect set follows it.
func TestNodeSetCacheFollowsRelabelling(t *testing.T) {
	pl := newPlugin(t, &configv1.InterconnectArgs{})
	node := icNode("n")
	ni := plugintest.NodeInfo(node)
	if got := pl.nodeInfoSet(ni); got != 0 {
		t.Fatalf("set = %b, want none", got)
	}
	relabelled := node.DeepCopy()
	relabelled.Labels = map[string]string{gpu.InterconnectLabelPrefix + "infiniband": "true"}
	ni.SetNode(relabelled)
	if got := pl.nodeInfoSet(ni); got != 1 {
		t.Errorf("set after relabelling = %b, want infiniband", got)
	}
}

// The cache of node interconnects forgets nodes that left the cluster: after PreFilter it holds no
// more nodes than the snapshot has.
func TestInterconnectCacheForgetsDeletedNodes(t *testing.T) {
	pl := newPlugin(t, &configv1.InterconnectArgs{})
	pod := icPod("infiniband", "")
	var nodes []fwk.NodeInfo
	for i := range 50 {
		nodes = append(nodes, plugintest.NodeInfo(icNode(fmt.Sprintf("n%d", i), ibLabel, "true")))
	}
	for _, live := range [][]fwk.NodeInfo{nodes, nodes[:10], nodes[40:]} {
		state := framework.NewCycleState()
		if _, st := pl.PreFilter(context.Background(), state, pod, live); !st.IsSuccess() {
			t.Fatal(st)
		}
		if got := pl.sets.Len(); got > len(live) {
			t.Errorf("PreFilter over %d nodes left %d in the cache", len(live), got)
		}
		for _, ni := range live {
			if st := pl.Filter(context.Background(), state, pod, ni); !st.IsSuccess() {
				t.Fatalf("%s: %v", ni.Node().Name, st)
			}
		}
	}
}
