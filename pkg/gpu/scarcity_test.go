package gpu

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

func modelNode(name, model string, gpus string) fwk.NodeInfo {
	ni := framework.NewNodeInfo()
	ni.SetNode(st.MakeNode().Name(name).Label("model", model).Capacity(map[v1.ResourceName]string{ResourceName: gpus}).Obj())
	return ni
}

func TestScarcity(t *testing.T) {
	anywhere := Shape{MilliCPU: 1000, GPUs: 1, GPUMilli: 1000}
	t4Only := Shape{MilliCPU: 1000, GPUs: 1, GPUMilli: 1000, Models: []string{"T4"}}
	v100s := Shape{MilliCPU: 1000, GPUs: 1, GPUMilli: 1000, Models: []string{"V100M16", "V100M32"}}
	// 10 free GPUs: 2 T4, 8 G2 (a model no shape is limited to), 2 V100M16.
	nodes := []fwk.NodeInfo{modelNode("t4", "T4", "2"), modelNode("g2", "G2", "6"), modelNode("v100", "v100m16", "2")}
	weighted := func(s Shape, w float64) Shape { s.Weight = w; return s }
	tests := []struct {
		name   string
		shapes []Shape
		model  string
		milli  int64
		want   float64
	}{
		{name: "no constrained shape prices nothing", shapes: []Shape{weighted(anywhere, 1)}, model: "T4", milli: 1000, want: 0},
		// Half the demand for 2 of 10 free GPUs: oversubscribed, the full price.
		{name: "an oversubscribed model costs its whole share", shapes: []Shape{weighted(anywhere, 1), weighted(t4Only, 1)}, model: "T4", milli: 1000, want: 1000},
		// A tenth of the demand for a fifth of the free GPUs: pressure 0.1 x 10 / 2.
		{name: "pressure below one is the price", shapes: []Shape{weighted(anywhere, 9), weighted(t4Only, 1)}, model: "t4", milli: 500, want: 250},
		{name: "a model nobody is limited to is free", shapes: []Shape{weighted(anywhere, 1), weighted(t4Only, 1)}, model: "G2", milli: 1000, want: 0},
		{name: "an unlabelled node is free", shapes: []Shape{weighted(anywhere, 1), weighted(t4Only, 1)}, model: "", milli: 1000, want: 0},
		// V100M16 and V100M32 share a set: 0.1 x 10 / (2 + 0 free V100M32).
		{name: "a set's pressure counts all its models' capacity", shapes: []Shape{weighted(anywhere, 9), weighted(v100s, 1)}, model: "V100M16", milli: 1000, want: 500},
		{name: "every model of a set pays its pressure", shapes: []Shape{weighted(anywhere, 9), weighted(v100s, 1)}, model: "V100M32", milli: 1000, want: 500},
		{name: "a set without free capacity is oversubscribed", shapes: []Shape{weighted(anywhere, 9), weighted(Shape{GPUs: 1, GPUMilli: 1000, Models: []string{"A100"}}, 1)}, model: "A100", milli: 1000, want: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWorkload(tt.shapes)
			sc := w.Scarcity(nodes, NewView(&NodeStates{}, nil), "model")
			if got := sc.Cost(tt.model, tt.milli); !near(got, tt.want) {
				t.Errorf("Cost(%q, %d) = %v, want %v", tt.model, tt.milli, got, tt.want)
			}
		})
	}
}
