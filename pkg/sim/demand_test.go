package sim

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/gpufit"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/plugins/plugintest"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

// One GPU-demand rule: the scheduler (GPUFit's PreFilter) and the simulator (the shapes it measures
// fragmentation with, and its own scheduling of the Pod) read the same demand from the same Pod, with
// init containers, sidecars and overhead counted as kube-scheduler counts them, and refuse the same
// Pods with the same error.
func TestOneGPUDemandRule(t *testing.T) {
	gpus := func(n string) map[v1.ResourceName]string { return map[v1.ResourceName]string{gpu.ResourceName: n} }
	pod := func() *st.PodWrapper {
		return st.MakePod().Name("p").Namespace("default").UID("p").Req(map[v1.ResourceName]string{v1.ResourceCPU: "1", v1.ResourceMemory: "1Gi"})
	}
	tests := []struct {
		name    string
		pod     *v1.Pod
		want    gpu.Demand
		wantErr string
	}{
		{"containers are summed", pod().Req(gpus("1")).Req(gpus("2")).Obj(), gpu.Demand{Whole: 3}, ""},
		{"a larger init container wins", pod().Req(gpus("1")).InitReq(gpus("4")).Obj(), gpu.Demand{Whole: 4}, ""},
		{"a sidecar adds", pod().Req(gpus("1")).SidecarReq(gpus("1")).Obj(), gpu.Demand{Whole: 2}, ""},
		{"overhead adds", pod().Req(gpus("1")).Overhead(v1.ResourceList{gpu.ResourceName: resource.MustParse("1")}).Obj(), gpu.Demand{Whole: 2}, ""},
		{"a fraction", pod().Annotation(gpu.FractionAnnotation, "0.25").Obj(), gpu.Demand{Share: 250}, ""},
		{"a malformed fraction", pod().Annotation(gpu.FractionAnnotation, "half").Obj(), gpu.Demand{},
			`annotation gpu-fraction: GPU fraction "half": want a decimal between 0 and 1 like 0.5`},
		{"a fraction beside whole GPUs", pod().Req(gpus("1")).Annotation(gpu.FractionAnnotation, "0.5").Obj(), gpu.Demand{},
			"annotation gpu-fraction and a nvidia.com/gpu request are mutually exclusive"},
	}
	ctx := context.Background()
	fit, err := gpufit.New(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The scheduler's side.
			d, err := gpu.PodDemand(tt.pod)
			if d != tt.want || errString(err) != tt.wantErr {
				t.Fatalf("gpu.PodDemand = %+v, %q; want %+v, %q", d, errString(err), tt.want, tt.wantErr)
			}
			_, status := fit.(fwk.PreFilterPlugin).PreFilter(ctx, framework.NewCycleState(), tt.pod, nil)
			if tt.wantErr != "" && (status.Code() != fwk.UnschedulableAndUnresolvable || status.Message() != tt.wantErr) {
				t.Errorf("GPUFit PreFilter: %v, want UnschedulableAndUnresolvable %q", status, tt.wantErr)
			}

			// The simulator's side: the shape it measures fragmentation with...
			shapes := shapesOf([]trace.Pod{{Pod: tt.pod}})
			switch {
			case tt.wantErr != "" && len(shapes) != 0:
				t.Errorf("shapes %+v of a Pod the scheduler refuses", shapes)
			case tt.wantErr == "" && (len(shapes) != 1 || shapes[0].GPUs*shapes[0].GPUMilli != tt.want.Milli()):
				t.Errorf("shapes %+v, want one of %d thousandths", shapes, tt.want.Milli())
			}
			// ... and its scheduling: the GPUs the placed Pod takes, or the refusal.
			s, err := New(ctx, shippedProfile(t), trace.Cluster{Nodes: []*v1.Node{plugintest.GPUNode("n", "64", "256Gi", 8)}}, 1)
			if err != nil {
				t.Fatal(err)
			}
			p, err := s.Schedule(tt.pod)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" {
				if _, ok := p.Reasons[tt.wantErr]; !ok || p.Node != "" {
					t.Errorf("simulated on %q with reasons %v, want refused with %q", p.Node, p.Reasons, tt.wantErr)
				}
				return
			}
			if p.Node != "n" {
				t.Fatalf("not placed: %v", p.Reasons)
			}
			if got := gpu.ReadNode(s.Nodes()[0]); got.FreeMilli() != 8*gpu.MilliPerGPU-tt.want.Milli() {
				t.Errorf("node has %d thousandths free after the Pod, want %d", got.FreeMilli(), 8*gpu.MilliPerGPU-tt.want.Milli())
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
