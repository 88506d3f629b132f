package gpu

import (
	"math/bits"

	fwk "k8s.io/kube-scheduler/framework"
)

// Scarcity prices each GPU model's free capacity by how much the workload's model-constrained
// shapes need it: FGD's measure counts whether a shape fits a node, not whether the few GPUs a
// constrained shape can use are being taken by Pods that could have gone anywhere (the openb
// gpuspec traces, where T4-only Pods ask for more than the cluster's T4s).
//
// For a set of models M that a share D of the workload's GPU demand is limited to, the pressure on
// M is D x (free GPU capacity) / (free capacity of M): above 1, that demand will not fit in what M
// has left, and every thousandth taken from M by another Pod is a thousandth of it that fails. A
// model's price per thousandth is the sum, over the sets that include it, of min(pressure, 1).
type Scarcity struct {
	w     *Workload
	price [64]float64 // by model bit position
}

// Scarcity measures the free capacity of nodes (the whole cluster: the nodes a Pod could use would
// skew the ratios, e.g. a Pod accepting two models sees only those) and prices each model. nil when
// no shape is limited to models.
func (w *Workload) Scarcity(nodes []fwk.NodeInfo, view *View, modelLabel string) *Scarcity {
	if len(w.constrained) == 0 {
		return nil
	}
	var free [64]float64
	var total float64
	for _, ni := range nodes {
		f := float64(view.Of(ni).FreeMilli())
		total += f
		model, _ := view.Model(ni, modelLabel)
		if bit := w.modelBit(model); bit != 0 {
			free[bits.TrailingZeros64(bit)] += f
		}
	}
	sc := &Scarcity{w: w}
	for _, c := range w.constrained {
		var inSet float64
		for b := c.bits; b != 0; b &= b - 1 {
			inSet += free[bits.TrailingZeros64(b)]
		}
		pressure := 1.0
		if inSet > 0 {
			pressure = min(c.share*total/inSet, 1)
		}
		for b := c.bits; b != 0; b &= b - 1 {
			sc.price[bits.TrailingZeros64(b)] += pressure
		}
	}
	return sc
}

// Cost is what taking milli thousandths of a GPU of model costs the constrained shapes, in
// thousandths of GPU demand expected to fail: comparable with Fragmentation's measure.
// A nil Scarcity prices nothing.
func (sc *Scarcity) Cost(model string, milli int64) float64 {
	if sc == nil {
		return 0
	}
	bit := sc.w.modelBit(model)
	if bit == 0 {
		return 0
	}
	return float64(milli) * sc.price[bits.TrailingZeros64(bit)]
}
