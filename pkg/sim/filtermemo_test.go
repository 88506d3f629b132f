package sim

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

// memoCluster is small enough to fill: 40 nodes of three shapes and two models.
func memoCluster() []*v1.Node {
	var nodes []*v1.Node
	for i := 0; i < 40; i++ {
		switch i % 3 {
		case 0:
			nodes = append(nodes, plugintest.GPUNode(fmt.Sprintf("g2-%d", i), "96", "384Gi", 8, gpu.DefaultModelLabel, "G2"))
		case 1:
			nodes = append(nodes, plugintest.GPUNode(fmt.Sprintf("t4-%d", i), "104", "512Gi", 2, gpu.DefaultModelLabel, "T4"))
		default:
			nodes = append(nodes, plugintest.GPUNode(fmt.Sprintf("p100-%d", i), "16", "120Gi", 2, gpu.DefaultModelLabel, "P100"))
		}
	}
	return nodes
}

// memoPods cycles through a few shapes, as a trace does, until well past the cluster's capacity.
func memoPods(n int) []*v1.Pod {
	var pods []*v1.Pod
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("p%d", i)
		var pod *v1.Pod
		switch i % 6 {
		case 0:
			pod = plugintest.GPUPod(name, "3", "6Gi", 0).Annotation(gpu.FractionAnnotation, "0.81").Obj()
		case 1:
			pod = plugintest.GPUPod(name, "11", "48Gi", 1).Obj()
		case 2:
			pod = plugintest.GPUPod(name, "12", "46Gi", 0).Annotation(gpu.FractionAnnotation, "0.47").Obj()
		case 3:
			pod = plugintest.GPUPod(name, "4", "16Gi", 0).Obj()
		case 4:
			pod = plugintest.GPUPod(name, "8", "32Gi", 1).Annotation(gpu.ModelAnnotation, "T4").Obj()
		default:
			pod = plugintest.GPUPod(name, "40", "200Gi", []int{2, 4, 8}[i%3]).Obj()
		}
		pod.UID = types.UID("uid-" + pod.Name)
		pods = append(pods, pod)
	}
	return pods
}

// With the memo every Pod lands where it lands without it, with the same reasons when it fails,
// on every profile the simulator ships: the memo only saves asking the plugins again.
func TestFilterMemoChangesNoPlacement(t *testing.T) {
	profiles := []Profile{shippedProfile(t)}
	for name := range Baselines {
		p, err := BaselineProfile(name)
		if err != nil {
			t.Fatal(err)
		}
		profiles = append(profiles, p)
	}
	for _, p := range profiles {
		memoised, err := New(context.Background(), p, trace.Cluster{Nodes: memoCluster()}, 7)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := New(context.Background(), p, trace.Cluster{Nodes: memoCluster()}, 7)
		if err != nil {
			t.Fatal(err)
		}
		plain.memo = nil
		failed := 0
		for _, pod := range memoPods(400) {
			got, err := memoised.Schedule(pod)
			if err != nil {
				t.Fatal(err)
			}
			want, err := plain.Schedule(pod)
			if err != nil {
				t.Fatal(err)
			}
			if got.Node != want.Node || fmt.Sprint(got.Reasons) != fmt.Sprint(want.Reasons) {
				t.Fatalf("%s: %s on %q (%v) with the memo, on %q (%v) without", p.Name, pod.Name, got.Node, got.Reasons, want.Node, want.Reasons)
			}
			if got.Pod != nil && fmt.Sprint(got.Pod.Annotations) != fmt.Sprint(want.Pod.Annotations) {
				t.Fatalf("%s: %s annotated %v with the memo, %v without", p.Name, pod.Name, got.Pod.Annotations, want.Pod.Annotations)
			}
			if got.Node == "" {
				failed++
			}
		}
		if failed < 50 {
			t.Fatalf("%s: only %d of 400 Pods failed: the cluster never filled", p.Name, failed)
		}
		// One verdict list per shape: Pods that differ only in name share it.
		if len(memoised.memo.byPod) != 6 {
			t.Errorf("%s: %d memoised specs, want 6 (one per shape)", p.Name, len(memoised.memo.byPod))
		}
	}
}

// A Pod whose Filter looks beyond the node (a topology spread constraint) is never memoised: its
// verdicts change when other nodes change.
func TestFilterMemoSkipsPodsThatLookAcrossNodes(t *testing.T) {
	s, err := New(context.Background(), shippedProfile(t), trace.Cluster{Nodes: memoCluster()}, 7)
	if err != nil {
		t.Fatal(err)
	}
	spread := plugintest.GPUPod("spread", "1", "1Gi", 1).Label("app", "a").
		SpreadConstraint(1, v1.LabelHostname, v1.DoNotSchedule, st.MakeLabelSelector().Exists("app").Obj(), nil, nil, nil, nil).Obj()
	if _, err := s.Schedule(spread); err != nil {
		t.Fatal(err)
	}
	if len(s.memo.byPod) != 0 {
		t.Errorf("a Pod with a topology spread constraint was memoised")
	}
	if _, err := s.Schedule(plugintest.GPUPod("plain", "1", "1Gi", 1).Obj()); err != nil {
		t.Fatal(err)
	}
	if len(s.memo.byPod) != 1 {
		t.Errorf("a plain GPU Pod was not memoised")
	}
}

func TestPodFilterKey(t *testing.T) {
	base := func() *v1.Pod {
		return plugintest.GPUPod("a", "1", "1Gi", 1).Annotation(gpu.ModelAnnotation, "T4").Obj()
	}
	key := func(p *v1.Pod) string {
		k, err := podFilterKey(p)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	renamed := base()
	renamed.Name, renamed.UID, renamed.CreationTimestamp = "b", "other", metav1.Now()
	if key(renamed) != key(base()) {
		t.Error("a Pod's name, UID or timestamp changed its key")
	}
	for name, change := range map[string]func(*v1.Pod){
		"request":    func(p *v1.Pod) { p.Spec.Containers[0].Resources.Requests[v1.ResourceCPU] = resource.MustParse("2") },
		"annotation": func(p *v1.Pod) { p.Annotations[gpu.ModelAnnotation] = "V100M32" },
		"label":      func(p *v1.Pod) { p.Labels = map[string]string{"k": "v"} },
		"namespace":  func(p *v1.Pod) { p.Namespace = "other" },
		"selector":   func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"k": "v"} },
	} {
		p := base()
		change(p)
		if key(p) == key(base()) {
			t.Errorf("changing the %s kept the key", name)
		}
	}
	// Keys and values are written with their lengths: {"ab": "c"} and {"a": "bc"} differ.
	ab, a := base(), base()
	ab.Labels, a.Labels = map[string]string{"ab": "c"}, map[string]string{"a": "bc"}
	if key(ab) == key(a) {
		t.Error("labels {ab: c} and {a: bc} share a key")
	}
}

// A Filter error is returned, and not remembered as the node's verdict.
func TestFilterMemoKeepsNoErrors(t *testing.T) {
	s, err := New(context.Background(), shippedProfile(t), trace.Cluster{Nodes: memoCluster()}, 7)
	if err != nil {
		t.Fatal(err)
	}
	pod := plugintest.GPUPod("p", "1", "1Gi", 1).Obj()
	memo := make([]memoEntry, len(s.Nodes()))
	// No PreFilter ran: GPUFit's Filter finds no state and fails with an error.
	if _, _, err := s.findFeasible(framework.NewCycleState(), pod, s.Nodes(), memo); err == nil {
		t.Fatal("a Filter error was not returned")
	}
	for n, e := range memo {
		if e.generation != 0 {
			t.Fatalf("node %d: the error was remembered as its verdict", n)
		}
	}
}
