package gpu

import (
	"context"
	"fmt"
	"sync"

	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/dynamic-resource-allocation/cel"
	"k8s.io/dynamic-resource-allocation/structured"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/features"
)

// DRAServesGPUs reports whether a DeviceClass maps nvidia.com/gpu (DRAExtendedResource, KEP-5004):
// then a node without allocatable GPUs may have GPUs as DRA devices, which DynamicResources
// allocates to plain nvidia.com/gpu requests.
func DRAServesGPUs(h fwk.Handle) bool {
	return gpuDeviceClass(h) != nil
}

// gpuDeviceClass is the DeviceClass that maps nvidia.com/gpu, or nil.
func gpuDeviceClass(h fwk.Handle) *resourceapi.DeviceClass {
	if h == nil || h.SharedDRAManager() == nil {
		return nil
	}
	resolver := h.SharedDRAManager().DeviceClassResolver()
	if resolver == nil {
		return nil
	}
	return resolver.GetDeviceClass(ResourceName)
}

// ProductNameAttribute is the device attribute that NVIDIA's DRA driver publishes a GPU's product
// under, as GPU Feature Discovery's node label does (e.g. NVIDIA-H100-80GB-HBM3).
const ProductNameAttribute = "productName"

// DRANode is what a node's ResourceSlices publish of GPUs.
type DRANode struct {
	// Devices counts the devices that the DeviceClass mapping nvidia.com/gpu selects.
	Devices int64
	// Model is the productName attribute (bare, or qualified by the driver's name) of the first of
	// them that has one.
	Model string
}

// DRAInventory is the GPUs that nodes publish through DRA, as of one scheduling cycle: the devices
// of the DeviceClass that maps nvidia.com/gpu, and how many of them claims hold (allocated in the
// API, or in flight in this scheduler). A nil *DRAInventory has no nodes.
type DRAInventory struct {
	class     string             // the DeviceClass that maps nvidia.com/gpu
	slices    uint64             // the DRAReader's version of nodes: it changes when a slice does
	freed     uint64             // the DRAReader's count of reads in which a node's allocated devices went down
	nodes     map[string]DRANode // shared between cycles until a slice changes: never modified
	allocated map[string]int64
}

// Node returns the node's DRA GPUs and how many of them are allocated; ok is false for a node that
// publishes none.
func (inv *DRAInventory) Node(name string) (node DRANode, allocated int64, ok bool) {
	if inv == nil {
		return DRANode{}, 0, false
	}
	node, ok = inv.nodes[name]
	return node, min(inv.allocated[name], node.Devices), ok
}

// DRAReader reads DRAInventories through the scheduler's shared DRA manager, the snapshot that
// DynamicResources allocates from. What it derives from a ResourceSlice (which devices the GPU
// DeviceClass selects, by the class's CEL selectors) is kept until the slice or the class changes,
// so a cycle costs one pass over the slices' names and one over the allocated devices. Only slices
// of one node (spec.nodeName) count: that is how GPU drivers publish. Safe for concurrent use.
type DRAReader struct {
	mu       sync.Mutex
	compiled *cel.Cache
	class    string              // identity of the DeviceClass that slices were matched against
	slices   map[string]draSlice // by slice name
	nodes    map[string]DRANode
	byDevice map[structured.DeviceID]string // GPU device -> node
	version  uint64                         // counts the rebuilds of nodes
	// lastAllocated is the previous read's allocated devices per node; freed counts the reads that
	// found fewer on some node (a claim deallocated or deleted), which no NodeInfo change marks.
	lastAllocated map[string]int64
	freed         uint64
}

// draSlice is what one ResourceSlice publishes of GPUs.
type draSlice struct {
	resourceVersion string
	node            string
	gpus            []structured.DeviceID
	model           string
}

// allocatedRetries bounds the retries when the claim tracker changes while it is read.
const allocatedRetries = 3

// Read returns the cycle's inventory, or nil when no DeviceClass maps nvidia.com/gpu. A DeviceClass
// whose selector does not compile is an error naming it.
func (r *DRAReader) Read(ctx context.Context, h fwk.Handle) (*DRAInventory, error) {
	class := gpuDeviceClass(h)
	if class == nil {
		return nil, nil
	}
	mgr := h.SharedDRAManager()
	slices, err := mgr.ResourceSlices().ListWithDeviceTaintRules()
	if err != nil {
		return nil, fmt.Errorf("listing ResourceSlices: %w", err)
	}
	r.mu.Lock()
	nodes, byDevice, err := r.refresh(ctx, class, slices)
	version := r.version
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	inv := &DRAInventory{class: class.Name, slices: version, nodes: nodes, allocated: map[string]int64{}}
	if len(byDevice) > 0 {
		ids, err := allocatedDevices(mgr)
		if err != nil {
			return nil, err
		}
		for id := range ids {
			if node, ok := byDevice[id]; ok {
				inv.allocated[node]++
			}
		}
	}
	r.mu.Lock()
	for node, n := range r.lastAllocated {
		if inv.allocated[node] < n {
			r.freed++
			break
		}
	}
	r.lastAllocated, inv.freed = inv.allocated, r.freed
	r.mu.Unlock()
	return inv, nil
}

// allocatedDevices lists the allocated devices, retrying when the claim tracker changed while it
// was read.
func allocatedDevices(mgr fwk.SharedDRAManager) (sets.Set[structured.DeviceID], error) {
	for attempt := 1; ; attempt++ {
		ids, err := mgr.ResourceClaims().ListAllAllocatedDevices()
		if err == nil || attempt == allocatedRetries {
			if err != nil {
				return nil, fmt.Errorf("listing allocated devices: %w", err)
			}
			return ids, nil
		}
	}
}

// refresh brings the per-slice matches up to date with slices and class, and returns the nodes and
// the device index, rebuilt (new maps) only when a slice was added, changed or removed.
func (r *DRAReader) refresh(ctx context.Context, class *resourceapi.DeviceClass, slices []*resourceapi.ResourceSlice) (map[string]DRANode, map[structured.DeviceID]string, error) {
	if id := fmt.Sprintf("%s/%s/%s", class.Name, class.UID, class.ResourceVersion); id != r.class || r.slices == nil {
		r.class, r.slices, r.nodes, r.byDevice = id, map[string]draSlice{}, nil, nil
	}
	if r.compiled == nil {
		// The CEL features DynamicResources compiles selectors with, so that the same classes compile.
		r.compiled = cel.NewCache(10, cel.Features{
			EnableConsumableCapacity: utilfeature.DefaultFeatureGate.Enabled(features.DRAConsumableCapacity),
			EnableListTypeAttributes: utilfeature.DefaultFeatureGate.Enabled(features.DRAListTypeAttributes),
		})
	}
	changed, current := false, 0
	for _, s := range slices {
		if s.Spec.NodeName == nil || *s.Spec.NodeName == "" {
			continue
		}
		current++
		if cached, ok := r.slices[s.Name]; ok && cached.resourceVersion == s.ResourceVersion {
			continue
		}
		matched, err := r.match(ctx, class, s)
		if err != nil {
			return nil, nil, err
		}
		r.slices[s.Name] = matched
		changed = true
	}
	if !changed && current == len(r.slices) && r.nodes != nil {
		return r.nodes, r.byDevice, nil
	}
	if current != len(r.slices) { // a slice went away
		live := make(map[string]bool, current)
		for _, s := range slices {
			if s.Spec.NodeName != nil && *s.Spec.NodeName != "" {
				live[s.Name] = true
			}
		}
		for name := range r.slices {
			if !live[name] {
				delete(r.slices, name)
			}
		}
	}
	nodes, byDevice := map[string]DRANode{}, map[structured.DeviceID]string{}
	for _, s := range r.slices {
		for _, id := range s.gpus {
			if _, dup := byDevice[id]; dup {
				continue // one device in two slices (a pool being republished) counts once
			}
			byDevice[id] = s.node
			n := nodes[s.node]
			n.Devices++
			nodes[s.node] = n
		}
		if n, ok := nodes[s.node]; ok && n.Model == "" && s.model != "" {
			n.Model = s.model
			nodes[s.node] = n
		}
	}
	r.nodes, r.byDevice = nodes, byDevice
	r.version++
	return nodes, byDevice, nil
}

// match finds the slice's devices that every CEL selector of class accepts. A device whose
// evaluation fails is not counted: DynamicResources would not allocate it either.
func (r *DRAReader) match(ctx context.Context, class *resourceapi.DeviceClass, s *resourceapi.ResourceSlice) (draSlice, error) {
	out := draSlice{resourceVersion: s.ResourceVersion, node: *s.Spec.NodeName}
	qualified := resourceapi.QualifiedName(s.Spec.Driver + "/" + ProductNameAttribute)
devices:
	for _, d := range s.Spec.Devices {
		for _, sel := range class.Spec.Selectors {
			if sel.CEL == nil {
				continue
			}
			prog := r.compiled.GetOrCompile(sel.CEL.Expression)
			if prog.Error != nil {
				return draSlice{}, fmt.Errorf("DeviceClass %s: selector %q: %v", class.Name, Echo(sel.CEL.Expression), prog.Error)
			}
			ok, _, err := prog.DeviceMatches(ctx, cel.Device{Driver: s.Spec.Driver, Attributes: d.Attributes, Capacity: d.Capacity})
			if err != nil || !ok {
				continue devices
			}
		}
		out.gpus = append(out.gpus, structured.MakeDeviceID(s.Spec.Driver, s.Spec.Pool.Name, d.Name))
		if out.model == "" {
			out.model = stringAttribute(d.Attributes, ProductNameAttribute, qualified)
		}
	}
	return out, nil
}

func stringAttribute(attrs map[resourceapi.QualifiedName]resourceapi.DeviceAttribute, names ...resourceapi.QualifiedName) string {
	for _, n := range names {
		if a, ok := attrs[n]; ok && a.StringValue != nil {
			return *a.StringValue
		}
	}
	return ""
}
