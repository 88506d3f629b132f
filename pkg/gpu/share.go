package gpu

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
)

// GPUIndexAnnotation is written by gpu-scheduler on a Pod that shares a GPU: the 0-based index of
// the GPU on its node that holds the Pod's share. A device plugin for shared GPUs honours it; after a
// restart the scheduler rebuilds its per-GPU accounting from it.
const GPUIndexAnnotation = AnnotationPrefix + "gpu-index"

// MaxGPUsPerNode bounds the GPUs per node whose shares are tracked one by one, so a node's state fits
// a fixed array and reading it allocates nothing. Larger nodes still count whole GPUs past it.
const MaxGPUsPerNode = 64

// Demand is what a Pod asks of GPUs: whole GPUs, or a share of one GPU in thousandths.
type Demand struct {
	Whole int64
	Share int64
}

// Milli is the demand in thousandths of a GPU.
func (d Demand) Milli() int64 { return d.Whole*MilliPerGPU + d.Share }

// None reports whether the Pod asks for no GPU at all.
func (d Demand) None() bool { return d.Whole == 0 && d.Share == 0 }

// PodDemand reads a Pod's GPU demand: its effective nvidia.com/gpu request, or the share in its
// gpu-fraction annotation. Asking for both, or an unreadable fraction, is an error naming the problem.
func PodDemand(pod *v1.Pod) (Demand, error) {
	whole := PodGPURequest(pod)
	frac, ok := pod.Annotations[FractionAnnotation]
	if !ok {
		return Demand{Whole: whole}, nil
	}
	if whole > 0 {
		return Demand{}, fmt.Errorf("annotation %s and a %s request are mutually exclusive", FractionAnnotation, ResourceName)
	}
	share, err := ParseFraction(frac)
	if err != nil {
		return Demand{}, fmt.Errorf("annotation %s: %w", FractionAnnotation, err)
	}
	return Demand{Share: share}, nil
}

// FormatFraction writes a share of one GPU, 0 < milli < 1000, as the exact decimal FractionAnnotation
// expects: 460 -> "0.46", 500 -> "0.5", 5 -> "0.005".
func FormatFraction(milli int64) string {
	if milli <= 0 || milli >= MilliPerGPU {
		panic(fmt.Sprintf("gpu.FormatFraction: %d is not in (0, 1000)", milli))
	}
	s := strconv.FormatInt(milli+1000, 10)[1:] // three digits, zero-padded
	return "0." + strings.TrimRight(s, "0")
}

// ParseFraction reads a FractionAnnotation value: a decimal in (0, 1) with at most three decimals
// ("0.5", ".25", "0.005"), returned in thousandths of a GPU.
func ParseFraction(s string) (int64, error) {
	milli, problem := parseFraction(s)
	if problem != "" {
		return 0, fmt.Errorf("GPU fraction %s: %s", Echo(s), problem)
	}
	return milli, nil
}

// parseFraction is ParseFraction without allocating: the problem is a constant, empty when none.
func parseFraction(s string) (int64, string) {
	const notDecimal = "want a decimal between 0 and 1 like 0.5"
	t := strings.TrimPrefix(s, "0")
	if !strings.HasPrefix(t, ".") {
		return 0, notDecimal
	}
	digits := t[1:]
	if len(digits) == 0 || len(digits) > 3 {
		return 0, "want 1 to 3 decimals"
	}
	var milli int64
	for i := 0; i < 3; i++ {
		milli *= 10
		if i < len(digits) {
			c := digits[i]
			if c < '0' || c > '9' {
				return 0, notDecimal
			}
			milli += int64(c - '0')
		}
	}
	if milli == 0 {
		return 0, "must be above 0"
	}
	return milli, ""
}

// parseIndex reads a GPUIndexAnnotation value below MaxGPUsPerNode, without allocating.
func parseIndex(s string) (int, bool) {
	if len(s) == 0 || len(s) > 2 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n < MaxGPUsPerNode
}

// NodeState is a node's GPUs one by one: how many it has, how many whole ones Pods hold, and the
// thousandths that shares hold on each GPU. Whole GPUs never go to a GPU that holds shares.
//
// The counts come first, in one cache line: Filter and Score read them for every node, and the
// per-GPU shares only where a node has some.
type NodeState struct {
	Allocatable int64
	// WholeUsed counts GPUs held whole: nvidia.com/gpu requests, plus shares whose GPU is unknown
	// (counted as a whole GPU each, so nothing is ever double-booked).
	WholeUsed int64
	// SharedGPUs counts the GPUs with any share.
	SharedGPUs int64
	// MilliCPUPerGPU and MemoryPerGPU are the node's allocatable CPU and memory per GPU (0 without
	// GPUs): what comes with each GPU, kept here so that scoring a node divides nothing.
	MilliCPUPerGPU, MemoryPerGPU int64
	// NonGPUMilliCPU and NonGPUMemory are requested by the node's Pods that hold no GPU.
	NonGPUMilliCPU, NonGPUMemory int64
	// DRA is set when the GPUs are DRA devices (View.Of): WholeUsed then counts allocated devices,
	// and no GPU takes a share, since DRA allocates devices whole.
	DRA bool
	// Model is a DRA node's GPU product, from its devices; a device-plugin node's is a node label.
	Model string
	// frag holds the *fragMemo of Workload.FragmentationOf.
	frag atomic.Value
	// Shared[i] is the thousandths of GPU i held by shares.
	Shared [MaxGPUsPerNode]int64
}

// ReadNode returns a node's state as of the scheduler's NodeInfo (assigned and assumed Pods),
// computed afresh; plugins that read every node in every cycle use a NodeStates cache.
func ReadNode(nodeInfo fwk.NodeInfo) NodeState {
	return readNode(nodeInfo)
}

// NodeStates caches node states per NodeInfo generation, for plugins that read every node in every
// cycle. The plugins of one scheduler framework share one (NodeStatesFor): a node's entry is then
// computed once and stays hot. Those with a PreFilter drop deleted nodes' states there (Retain);
// GPUBinPacking, which only scores, counts on them. A nil *NodeStates caches nothing.
type NodeStates struct {
	cache NodeCache[*NodeState]
	// dra holds every node's state as a View sees it where DRA serves GPUs (View.Of).
	dra       NodeCache[viewEntry]
	draReader DRAReader
}

// Of returns the node's state; it is shared and must not be modified.
func (c *NodeStates) Of(nodeInfo fwk.NodeInfo) *NodeState {
	if c == nil {
		return readNodeState(nodeInfo)
	}
	return c.cache.Get(nodeInfo, readNodeState)
}

// Retain drops the states of nodes not in live, the snapshot's NodeInfos (NodeCache.Retain).
func (c *NodeStates) Retain(live []fwk.NodeInfo) {
	if c != nil {
		c.cache.Retain(live)
		c.dra.Retain(live)
	}
}

// frameworkStates holds each framework's NodeStates, by its handle.
var frameworkStates sync.Map

// NodeStatesFor returns the cache shared by the plugins of the framework whose handle is h, dropped
// when ctx ends. One cache per framework, not per process: one process may run several schedulers
// over clusters with the same node names (gpu-sim's parallel runs), whose entries would evict each
// other's.
// A nil or non-comparable h (a test double) gets no cache: nil, which computes every time.
func NodeStatesFor(ctx context.Context, h any) *NodeStates {
	if h == nil || !reflect.TypeOf(h).Comparable() {
		return nil
	}
	if c, ok := frameworkStates.Load(h); ok {
		return c.(*NodeStates)
	}
	c, loaded := frameworkStates.LoadOrStore(h, &NodeStates{})
	if !loaded {
		context.AfterFunc(ctx, func() { frameworkStates.Delete(h) })
	}
	return c.(*NodeStates)
}

func readNodeState(nodeInfo fwk.NodeInfo) *NodeState {
	s := readNode(nodeInfo)
	return &s
}

// readNode computes a node's state by going through its Pods.
func readNode(nodeInfo fwk.NodeInfo) NodeState {
	alloc := nodeInfo.GetAllocatable()
	s := NodeState{
		Allocatable: alloc.GetScalarResources()[ResourceName],
		WholeUsed:   nodeInfo.GetRequested().GetScalarResources()[ResourceName],
	}
	if s.Allocatable > 0 {
		s.MilliCPUPerGPU, s.MemoryPerGPU = alloc.GetMilliCPU()/s.Allocatable, alloc.GetMemory()/s.Allocatable
	}
	for _, pi := range nodeInfo.GetPods() {
		pod := pi.GetPod()
		frac, ok := pod.Annotations[FractionAnnotation]
		if !ok {
			// The requests NodeInfo summed, cached on the PodInfo: reading them allocates nothing.
			if r := pi.CalculateResource().Resource; r.GetScalarResources()[ResourceName] == 0 {
				s.NonGPUMilliCPU += r.GetMilliCPU()
				s.NonGPUMemory += r.GetMemory()
			}
			continue
		}
		share, problem := parseFraction(frac)
		if problem != "" {
			continue // never scheduled by us; a Pod with a bad fraction is rejected in PreFilter
		}
		idx, ok := parseIndex(pod.Annotations[GPUIndexAnnotation])
		if !ok || int64(idx) >= s.Allocatable {
			s.WholeUsed++
			continue
		}
		if s.Shared[idx] == 0 {
			s.SharedGPUs++
		}
		s.Shared[idx] += share
	}
	return s
}

// FreeWhole is the number of GPUs neither held whole nor shared.
func (s *NodeState) FreeWhole() int64 {
	return max(s.Allocatable-s.WholeUsed-s.SharedGPUs, 0)
}

// PickGPU returns the GPU a share of size milli should go to: the shared GPU it fits most tightly,
// else the first GPU with no share (when a whole one is free), else -1.
func (s *NodeState) PickGPU(milli int64) int {
	if s.DRA {
		return -1
	}
	best, bestFree := -1, int64(MilliPerGPU+1)
	n := min(s.Allocatable, MaxGPUsPerNode)
	for i := int64(0); i < n; i++ {
		if s.Shared[i] == 0 {
			continue
		}
		if free := MilliPerGPU - s.Shared[i]; free >= milli && free < bestFree {
			best, bestFree = int(i), free
		}
	}
	if best >= 0 || s.FreeWhole() == 0 {
		return best
	}
	for i := int64(0); i < n; i++ {
		if s.Shared[i] == 0 {
			return int(i)
		}
	}
	return -1
}

// Fits reports whether the node can take the demand.
func (s *NodeState) Fits(d Demand) bool {
	if d.Share > 0 {
		return s.PickGPU(d.Share) >= 0
	}
	return s.FreeWhole() >= d.Whole
}

// Take records the demand on GPU idx (ignored for whole GPUs), as a placement would.
func (s *NodeState) Take(d Demand, idx int) {
	if d.Share == 0 {
		s.WholeUsed += d.Whole
		return
	}
	if s.Shared[idx] == 0 {
		s.SharedGPUs++
	}
	s.Shared[idx] += d.Share
}

// FreeSlices appends the free thousandths of every GPU to dst: shared GPUs' remainders, whole free
// GPUs as MilliPerGPU, and nothing for GPUs held whole.
func (s *NodeState) FreeSlices(dst []int64) []int64 {
	n := min(s.Allocatable, MaxGPUsPerNode)
	for i := int64(0); i < n && s.SharedGPUs > 0; i++ {
		if s.Shared[i] > 0 {
			dst = append(dst, max(MilliPerGPU-s.Shared[i], 0))
		}
	}
	for i := int64(0); i < s.FreeWhole(); i++ {
		dst = append(dst, MilliPerGPU)
	}
	return dst
}

// LargestFreeShare is the largest share, in thousandths, that one GPU of the node has free: a whole
// GPU if one is free, else the roomiest shared GPU's remainder.
func (s *NodeState) LargestFreeShare() int64 {
	if s.DRA {
		return 0
	}
	if s.FreeWhole() > 0 {
		return MilliPerGPU
	}
	var largest int64
	n := min(s.Allocatable, MaxGPUsPerNode)
	for i := int64(0); i < n; i++ {
		if s.Shared[i] > 0 {
			largest = max(largest, MilliPerGPU-s.Shared[i])
		}
	}
	return largest
}

// FreeMilli is the free GPU capacity in thousandths: whole free GPUs and shared GPUs' remainders.
func (s *NodeState) FreeMilli() int64 {
	free := s.FreeWhole() * MilliPerGPU
	if s.SharedGPUs == 0 {
		return free
	}
	n := min(s.Allocatable, MaxGPUsPerNode)
	for i := int64(0); i < n; i++ {
		if s.Shared[i] > 0 {
			free += max(MilliPerGPU-s.Shared[i], 0)
		}
	}
	return free
}

// GPUChooserKey is where a scoring plugin that scores a share on one particular GPU of each node
// leaves its GPUChooser, so that Reserve places the share where the score assumed.
const GPUChooserKey fwk.StateKey = "gpu-scheduler.io/gpu-chooser"

// GPUChooser picks the GPU for this cycle's share on the node Reserve was given. It answers from
// the cycle's state and the node alone, as Score did: asking again in Reserve, for one node, costs
// less than recording a choice for every node scored.
type GPUChooser interface {
	fwk.StateData
	// ChooseGPU returns the GPU index, false when the node has no GPU for the share.
	ChooseGPU(nodeInfo fwk.NodeInfo) (int, bool)
}

// CanTake reports whether GPU idx can hold a share of milli.
func (s *NodeState) CanTake(milli int64, idx int) bool {
	if s.DRA || idx < 0 || int64(idx) >= min(s.Allocatable, MaxGPUsPerNode) {
		return false
	}
	if s.Shared[idx] == 0 {
		return s.FreeWhole() > 0
	}
	return s.Shared[idx]+milli <= MilliPerGPU
}

// ShareCandidates appends to dst the GPUs a share of milli could go to: every shared GPU with room,
// and the first unshared GPU if a whole one is free (all free whole GPUs are alike).
func (s *NodeState) ShareCandidates(milli int64, dst []int) []int {
	if s.DRA {
		return dst
	}
	n := min(s.Allocatable, MaxGPUsPerNode)
	fresh := -1
	for i := int64(0); i < n; i++ {
		switch {
		case s.Shared[i] > 0 && s.Shared[i]+milli <= MilliPerGPU:
			dst = append(dst, int(i))
		case s.Shared[i] == 0 && fresh < 0:
			fresh = int(i)
		}
	}
	if fresh >= 0 && s.FreeWhole() > 0 {
		dst = append(dst, fresh)
	}
	return dst
}

// FreeWholeAfter is FreeWhole once the demand is placed (a share on the GPU PickGPU picks); the
// state itself is left as it is.
func (s *NodeState) FreeWholeAfter(d Demand) int64 {
	switch {
	case !s.Fits(d):
		return s.FreeWhole()
	case d.Share > 0:
		if s.Shared[s.PickGPU(d.Share)] == 0 {
			return s.FreeWhole() - 1
		}
		return s.FreeWhole()
	}
	return s.FreeWhole() - d.Whole
}

// FreeSlicesAfter is FreeSlices once the demand is placed (a share on GPU idx), without modifying
// or copying the state. The demand must fit.
func (s *NodeState) FreeSlicesAfter(d Demand, idx int, dst []int64) []int64 {
	whole := s.FreeWhole()
	if d.Share == 0 {
		whole -= d.Whole
	} else if s.Shared[idx] == 0 {
		whole-- // the share opens a fresh GPU
	}
	n := min(s.Allocatable, MaxGPUsPerNode)
	for i := int64(0); i < n; i++ {
		used := s.Shared[i]
		if d.Share > 0 && int(i) == idx {
			used += d.Share
		}
		if used > 0 {
			dst = append(dst, max(MilliPerGPU-used, 0))
		}
	}
	for i := int64(0); i < whole; i++ {
		dst = append(dst, MilliPerGPU)
	}
	return dst
}
