package sim

import (
	"context"
	"fmt"
	"sync"

	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/dynamic-resource-allocation/deviceclass/extendedresourcecache"
	resourceslicetracker "k8s.io/dynamic-resource-allocation/resourceslice/tracker"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/features"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/dynamicresources"
	"k8s.io/kubernetes/pkg/scheduler/util/assumecache"
)

// draManager is kube-scheduler's shared DRA state (claims, slices, device classes) over
// informerFactory, whose extended-resource allocations last as long as their Pods. DynamicResources
// reads it for every Pod that asks for an extended resource, and serves nvidia.com/gpu from the
// ResourceSlices of DRA nodes where a DeviceClass maps it. Its Reserve records the allocation of a
// Pod's extended-resource claim in flight, until PreBind writes the claim to the API; the
// simulator binds nothing, so the allocation stays in flight while the Pod runs, and Remove gives
// it back (release).
type draManager struct {
	*dynamicresources.DefaultDRAManager
	claims *claimsByPod
}

// newDRAManager builds the DRA manager, and its DeviceClass cache's informer handler, as
// kube-scheduler does; ready reports when that handler has seen the classes. Nil when DRA is off.
func newDRAManager(ctx context.Context, client kubernetes.Interface, informerFactory informers.SharedInformerFactory) (m *draManager, ready cache.InformerSynced, err error) {
	if !feature.DefaultFeatureGate.Enabled(features.DynamicResourceAllocation) {
		return nil, nil, nil
	}
	claims := assumecache.NewAssumeCache(klog.FromContext(ctx), informerFactory.Resource().V1().ResourceClaims().Informer(), "ResourceClaim", "", nil)
	opts := resourceslicetracker.Options{
		EnableDeviceTaintRules:   feature.DefaultFeatureGate.Enabled(features.DRADeviceTaintRules),
		EnableConsumableCapacity: feature.DefaultFeatureGate.Enabled(features.DRAConsumableCapacity),
		SliceInformer:            informerFactory.Resource().V1().ResourceSlices(),
		KubeClient:               client,
	}
	if opts.EnableDeviceTaintRules {
		opts.TaintInformer = informerFactory.Resource().V1beta2().DeviceTaintRules()
		opts.ClassInformer = informerFactory.Resource().V1().DeviceClasses()
	}
	slices, err := resourceslicetracker.StartTracker(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("resource slice tracker: %w", err)
	}
	m = &draManager{DefaultDRAManager: dynamicresources.NewDRAManager(ctx, claims, slices, informerFactory)}
	m.claims = &claimsByPod{ResourceClaimTracker: m.DefaultDRAManager.ResourceClaims(), byPod: map[types.UID][]types.UID{}}
	ready = func() bool { return true }
	if feature.DefaultFeatureGate.Enabled(features.DRAExtendedResource) {
		// kube-scheduler's event handlers feed the cache that maps extended resources to classes.
		classes, ok := m.DeviceClassResolver().(*extendedresourcecache.ExtendedResourceCache)
		if !ok {
			return nil, nil, fmt.Errorf("DRA manager's DeviceClass resolver is a %T, not an extended-resource cache", m.DeviceClassResolver())
		}
		reg, err := informerFactory.Resource().V1().DeviceClasses().Informer().AddEventHandler(classes)
		if err != nil {
			return nil, nil, fmt.Errorf("device class handler: %w", err)
		}
		ready = reg.HasSynced
	}
	return m, ready, nil
}

// ResourceClaims is the claim tracker that notes which Pod each in-flight allocation is for.
func (m *draManager) ResourceClaims() fwk.ResourceClaimTracker { return m.claims }

// release gives back the devices of pod's extended-resource claims.
func (m *draManager) release(pod types.UID) {
	if m != nil {
		m.claims.release(pod)
	}
}

// claimsByPod is a claim tracker that remembers, per Pod, the claims allocated in flight for it.
type claimsByPod struct {
	fwk.ResourceClaimTracker
	mu    sync.Mutex
	byPod map[types.UID][]types.UID
}

// SignalClaimPendingAllocation records the allocation, and for which Pod (the claim's owner).
func (c *claimsByPod) SignalClaimPendingAllocation(claimUID types.UID, claim *resourceapi.ResourceClaim) error {
	if err := c.ResourceClaimTracker.SignalClaimPendingAllocation(claimUID, claim); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ref := range claim.OwnerReferences {
		if ref.Kind == "Pod" {
			c.byPod[ref.UID] = append(c.byPod[ref.UID], claimUID)
		}
	}
	return nil
}

// MaybeRemoveClaimPendingAllocation drops the allocation (Unreserve) and, once it is gone, its Pod's
// note of it.
func (c *claimsByPod) MaybeRemoveClaimPendingAllocation(claimUID types.UID, force bool) bool {
	deleted := c.ResourceClaimTracker.MaybeRemoveClaimPendingAllocation(claimUID, force)
	if deleted {
		c.mu.Lock()
		defer c.mu.Unlock()
		for pod, uids := range c.byPod {
			for i, uid := range uids {
				if uid == claimUID {
					c.byPod[pod] = append(uids[:i:i], uids[i+1:]...)
					break
				}
			}
			if len(c.byPod[pod]) == 0 {
				delete(c.byPod, pod)
			}
		}
	}
	return deleted
}

func (c *claimsByPod) release(pod types.UID) {
	c.mu.Lock()
	uids := c.byPod[pod]
	delete(c.byPod, pod)
	c.mu.Unlock()
	for _, uid := range uids {
		c.ResourceClaimTracker.MaybeRemoveClaimPendingAllocation(uid, true)
	}
}
