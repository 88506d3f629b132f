package sim

import (
	"fmt"

	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

// cluster is the simulator's scheduler cache: node infos in a fixed order (so a seed decides every
// tie), updated in place as Pods are placed and removed. It serves the framework as its snapshot.
type cluster struct {
	nodes  []fwk.NodeInfo
	byName map[string]int
}

var (
	_ framework.SharedLister      = &cluster{}
	_ framework.NodeInfoLister    = &cluster{}
	_ framework.StorageInfoLister = &cluster{}
)

func (c *cluster) NodeInfos() framework.NodeInfoLister       { return c }
func (c *cluster) StorageInfos() framework.StorageInfoLister { return c }
func (c *cluster) List() ([]fwk.NodeInfo, error)             { return c.nodes, nil }

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
