package plugintest

import (
	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	fwk "k8s.io/kube-scheduler/framework"
)

// DRAManager is the part of the scheduler's DRA manager the plugins read: DeviceClasses by the
// extended resource they map (DRAExtendedResource) and the ResourceSlices.
type DRAManager struct {
	fwk.SharedDRAManager
	Classes map[v1.ResourceName]*resourceapi.DeviceClass
	Slices  []*resourceapi.ResourceSlice
}

// DeviceClassResolver serves Classes.
func (m DRAManager) DeviceClassResolver() fwk.DeviceClassResolver { return m }

// GetDeviceClass returns the class mapping name, or nil.
func (m DRAManager) GetDeviceClass(name v1.ResourceName) *resourceapi.DeviceClass {
	return m.Classes[name]
}

// ResourceSlices serves Slices.
func (m DRAManager) ResourceSlices() fwk.ResourceSliceLister { return m }

// ListWithDeviceTaintRules returns Slices.
func (m DRAManager) ListWithDeviceTaintRules() ([]*resourceapi.ResourceSlice, error) {
	return m.Slices, nil
}
