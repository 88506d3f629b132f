package sim

import (
	"bytes"
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

// The shipped profile keeps kube-scheduler's opportunistic batching: every plugin it runs before
// Reserve signs Pods, so identical GPU Pods share a signature, and shares and gang members get none.
// One plugin without SignPod, ours or upstream's, would leave every Pod unsigned.
func TestShippedProfileSignsPods(t *testing.T) {
	ctx := context.Background()
	s, err := New(ctx, shippedProfile(t), trace.Cluster{Nodes: []*v1.Node{plugintest.GPUNode("n", "8", "8Gi", 1)}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	pod := func(name string, gpus int) *v1.Pod {
		return plugintest.GPUPod(name, "4", "16Gi", gpus).SchedulerName("gpu-scheduler").Obj()
	}
	a, b := s.fw.SignPod(ctx, pod("a", 1)), s.fw.SignPod(ctx, pod("b", 1))
	if a == nil || !bytes.Equal(a, b) {
		t.Fatalf("two one-GPU Pods sign %s and %s, want one signature", a, b)
	}
	if two := s.fw.SignPod(ctx, pod("c", 2)); two == nil || bytes.Equal(two, a) {
		t.Errorf("a two-GPU Pod signs %s, want a signature of its own", two)
	}
	share := plugintest.GPUPod("share", "4", "16Gi", 0).SchedulerName("gpu-scheduler").Annotation(gpu.FractionAnnotation, "0.5").Obj()
	if sig := s.fw.SignPod(ctx, share); sig != nil {
		t.Errorf("a share signs %s, want none", sig)
	}
	member := pod("member", 1)
	member.Labels = map[string]string{v1alpha1.PodGroupLabel: "train"}
	if sig := s.fw.SignPod(ctx, member); sig != nil {
		t.Errorf("a gang member signs %s, want none", sig)
	}
}
