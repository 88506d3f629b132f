package gpufit

import (
	"context"

	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
)

// newHandle is a framework handle serving snapshot, as the scheduler's is during a cycle.
func newHandle(snapshot framework.SharedLister) (framework.Handle, error) {
	return frameworkruntime.NewFramework(context.Background(), nil, nil, frameworkruntime.WithSnapshotSharedLister(snapshot))
}
