package gpu

import fwk "k8s.io/kube-scheduler/framework"

// Usage is a node's GPU capacity in thousandths of a GPU, and how it is used.
type Usage struct {
	Capacity, Allocated int64
	// Fragmented is the expected fragmentation under the workload (see Workload.Fragmentation).
	Fragmented float64
	// Stranded is free GPU capacity that no GPU shape of the workload can use for lack of CPU or
	// memory on the node.
	Stranded int64
}

// NodeUsage measures a node's GPUs as view sees them; modelLabel names the node label holding the
// GPU model.
func NodeUsage(nodeInfo fwk.NodeInfo, view *View, w *Workload, modelLabel string) Usage {
	state := view.Of(nodeInfo)
	var buf [MaxGPUsPerNode]int64
	free := state.FreeSlices(buf[:0])
	u := Usage{Capacity: state.Allocatable * MilliPerGPU}
	u.Allocated = u.Capacity - state.FreeMilli()
	room := w.RoomOf(nodeInfo, state, view, modelLabel)
	u.Fragmented = w.Fragmentation(room, free)
	if w.Strands(room.MilliCPU, room.Memory) {
		u.Stranded = state.FreeMilli()
	}
	return u
}
