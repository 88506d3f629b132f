package gpufragmentation

import (
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// shapeKey identifies a shape; equal keys are one shape with more weight.
type shapeKey struct {
	milliCPU, memory, gpus, gpuMilli int64
	models                           string
}

func keyOf(s gpu.Shape) shapeKey {
	return shapeKey{milliCPU: s.MilliCPU, memory: s.Memory, gpus: s.GPUs, gpuMilli: s.GPUMilli, models: strings.Join(s.Models, "|")}
}

// window is the shapes of the last Pods seen, each Pod once: the learned workload.
type window struct {
	size    int
	ring    []types.UID
	keys    []shapeKey
	next    int
	seen    map[types.UID]struct{}
	counts  map[shapeKey]int
	shapes  map[shapeKey]gpu.Shape
	version uint64
}

func newWindow(size int) *window {
	return &window{size: size, seen: map[types.UID]struct{}{}, counts: map[shapeKey]int{}, shapes: map[shapeKey]gpu.Shape{}}
}

// add records a Pod's shape unless the Pod is already in the window (a retry is not a new arrival);
// the oldest Pod leaves when the window is full.
func (w *window) add(uid types.UID, s gpu.Shape) {
	if _, dup := w.seen[uid]; dup {
		return
	}
	k := keyOf(s)
	if len(w.ring) < w.size {
		w.ring, w.keys = append(w.ring, uid), append(w.keys, k)
	} else {
		old := w.keys[w.next]
		delete(w.seen, w.ring[w.next])
		if w.counts[old]--; w.counts[old] == 0 {
			delete(w.counts, old)
			delete(w.shapes, old)
		}
		w.ring[w.next], w.keys[w.next] = uid, k
		w.next = (w.next + 1) % w.size
	}
	w.seen[uid] = struct{}{}
	w.counts[k]++
	w.shapes[k] = s
	w.version++
}

// workload is the window's distribution.
func (w *window) workload() *gpu.Workload {
	shapes := make([]gpu.Shape, 0, len(w.counts))
	for k, n := range w.counts {
		s := w.shapes[k]
		s.Weight = float64(n)
		shapes = append(shapes, s)
	}
	return gpu.NewWorkload(shapes)
}
