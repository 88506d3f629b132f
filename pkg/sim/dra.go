package sim

import (
	"context"
	"fmt"

	"k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	resourceslicetracker "k8s.io/dynamic-resource-allocation/resourceslice/tracker"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/features"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/dynamicresources"
	"k8s.io/kubernetes/pkg/scheduler/util/assumecache"
)

// newDRAManager builds the shared DRA state (claims, slices, device classes) over informerFactory,
// as kube-scheduler does: DynamicResources reads it in PreFilter for every Pod that asks for an
// extended resource, to learn whether a DeviceClass serves that resource. Nil when DRA is off.
func newDRAManager(ctx context.Context, client kubernetes.Interface, informerFactory informers.SharedInformerFactory) (fwk.SharedDRAManager, error) {
	if !feature.DefaultFeatureGate.Enabled(features.DynamicResourceAllocation) {
		return nil, nil
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
		return nil, fmt.Errorf("resource slice tracker: %w", err)
	}
	return dynamicresources.NewDRAManager(ctx, claims, slices, informerFactory), nil
}
