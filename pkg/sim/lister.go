package sim

import (
	"fmt"

	fwk "k8s.io/kube-scheduler/framework"
)

// cluster is the simulator's scheduler cache: node infos in a fixed order (so a seed decides every
// tie), updated in place as Pods are placed and removed. It serves the framework as its snapshot.
type cluster struct {
	nodes  []fwk.NodeInfo
	byName map[string]int
}

var (
	_ fwk.SharedLister        = &cluster{}
	_ fwk.NodeInfoLister      = &cluster{}
	_ fwk.StorageInfoLister   = &cluster{}
	_ fwk.PodGroupStateLister = noPodGroups{}
)

func (c *cluster) NodeInfos() fwk.NodeInfoLister       { return c }
func (c *cluster) StorageInfos() fwk.StorageInfoLister { return c }
func (c *cluster) List() ([]fwk.NodeInfo, error)       { return c.nodes, nil }

// PodGroupStates serves the in-tree workload API's PodGroups (scheduling.k8s.io), which simulated
// Pods never join: gangs are scheduler-plugins' PodGroups, planned by Coscheduling and Interconnect.
func (c *cluster) PodGroupStates() fwk.PodGroupStateLister { return noPodGroups{} }

func (c *cluster) HavePodsWithAffinityList() ([]fwk.NodeInfo, error) {
	return c.filter(func(ni fwk.NodeInfo) bool { return len(ni.GetPodsWithAffinity()) > 0 }), nil
}

func (c *cluster) HavePodsWithRequiredAntiAffinityList() ([]fwk.NodeInfo, error) {
	return c.filter(func(ni fwk.NodeInfo) bool { return len(ni.GetPodsWithRequiredAntiAffinity()) > 0 }), nil
}

func (c *cluster) filter(keep func(fwk.NodeInfo) bool) []fwk.NodeInfo {
	var out []fwk.NodeInfo
	for _, ni := range c.nodes {
		if keep(ni) {
			out = append(out, ni)
		}
	}
	return out
}

func (c *cluster) Get(name string) (fwk.NodeInfo, error) {
	i, ok := c.byName[name]
	if !ok {
		return nil, fmt.Errorf("node %q not found", name)
	}
	return c.nodes[i], nil
}

// IsPVCUsedByPods: simulated Pods mount no volumes.
func (c *cluster) IsPVCUsedByPods(string) bool { return false }

type noPodGroups struct{}

func (noPodGroups) Get(namespace, name string) (fwk.PodGroupState, error) {
	return nil, fmt.Errorf("pod group %s/%s not found: the simulator has no workload PodGroups", namespace, name)
}
