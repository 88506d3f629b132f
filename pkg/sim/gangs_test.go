package sim

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

func gang(name string, n, gpus int, annotations ...string) []*v1.Pod {
	var out []*v1.Pod
	for i := 0; i < n; i++ {
		w := plugintest.GPUPod(fmt.Sprintf("%s-%d", name, i), "8", "32Gi", gpus).Label(v1alpha1.PodGroupLabel, name)
		for j := 0; j+1 < len(annotations); j += 2 {
			w.Annotation(annotations[j], annotations[j+1])
		}
		out = append(out, w.Obj())
	}
	return out
}

func TestScheduleGang(t *testing.T) {
	// Fabric f1: 2 nodes; fabric f2: 4 nodes; 8 GPUs each. Nodes listed f1 first, so a placement that
	// ignored topology would start there.
	var nodes []*v1.Node
	for i, fabric := range []string{"f1", "f1", "f2", "f2", "f2", "f2"} {
		nodes = append(nodes, plugintest.GPUNode(fmt.Sprintf("n%d", i), "96", "768Gi", 8,
			"network.gpu-scheduler.io/ib-fabric", fabric, "network.gpu-scheduler.io/ib-leaf", fmt.Sprintf("%s-leaf%d", fabric, i/2)))
	}
	s, err := New(context.Background(), shippedProfile(t), trace.Cluster{Nodes: nodes}, 1)
	if err != nil {
		t.Fatal(err)
	}
	placements, err := s.ScheduleGang("default", "train", 4, gang("train", 4, 8, gpu.TopologyRequiredAnnotation, "ib-fabric"))
	if err != nil {
		t.Fatal(err)
	}
	fabrics := map[string]bool{}
	for _, p := range placements {
		if p.Node == "" {
			t.Fatalf("gang member not placed: %v", SortedReasons(p.Reasons))
		}
		n, _ := s.cluster.Get(p.Node)
		fabrics[n.Node().Labels["network.gpu-scheduler.io/ib-fabric"]] = true
	}
	if len(fabrics) != 1 || !fabrics["f2"] {
		t.Errorf("gang spread over fabrics %v, want only f2 (the one that holds it)", fabrics)
	}
	// 3 x 8 more: f1 has 2 nodes free, f2 none: all or nothing, so nothing.
	placements, err = s.ScheduleGang("default", "big", 3, gang("big", 3, 8, gpu.TopologyRequiredAnnotation, "ib-fabric"))
	if err != nil {
		t.Fatal(err)
	}
	if last := placements[len(placements)-1]; last.Node != "" {
		t.Fatalf("a gang no fabric can hold was placed: %+v", placements)
	}
	for _, ni := range s.Nodes() {
		for _, pi := range ni.GetPods() {
			if pi.GetPod().Labels[v1alpha1.PodGroupLabel] == "big" {
				t.Errorf("member %s of the failed gang left on %s", pi.GetPod().Name, ni.Node().Name)
			}
		}
	}
}
