package sim

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim/trace"
)

func TestZZDebugWaste(t *testing.T) {
	dir := openbDir(t)
	nodes, _, _ := trace.LoadOpenBNodes(filepath.Join(dir, "openb_node_list_gpu_node.csv"), trace.Options{Lenient: true})
	pods, _, _ := trace.LoadOpenBPods(filepath.Join(dir, "openb_pod_list_default.csv"), trace.Options{Lenient: true})
	inflated := trace.Inflate(pods, 6212, 1.3, 42)
	profiles, _ := LoadProfiles("/tmp/tune/H.yaml")
	s, _ := New(context.Background(), profiles[0], nodes, 42)
	var arrived int64
	fails := map[string]int{}
	failMilli := map[string]int64{}
	for i := range inflated {
		p := &inflated[i]
		arrived += p.GPUMilli
		if arrived > 6212*1000 {
			break
		}
		pl, _ := s.Schedule(p.Pod)
		if pl.Node == "" {
			sh, _ := gpu.ShapeOf(p.Pod)
			k := fmt.Sprintf("gpus=%d milli=%d", sh.GPUs, sh.GPUMilli)
			fails[k]++
			failMilli[k] += p.GPUMilli
		}
	}
	t.Logf("failed by shape: %v", fails)
	t.Logf("failed milli by shape: %v", failMilli)
	type nodeWaste struct {
		model      string
		cpu, mem   int64
		free       []int64
	}
	byModel := map[string][3]int64{}
	var cpuStarved, partial, wholeFree int64
	for _, ni := range s.Nodes() {
		st := gpu.ReadNode(ni)
		free := st.FreeSlices(nil)
		alloc, used := ni.GetAllocatable(), ni.GetRequested()
		cpu := alloc.GetMilliCPU() - used.GetMilliCPU()
		mem := (alloc.GetMemory() - used.GetMemory()) >> 30
		m := ni.Node().Labels[gpu.DefaultModelLabel]
		x := byModel[m]
		for _, f := range free {
			x[0] += f
			if f < 1000 {
				partial += f
			} else {
				wholeFree += f
				if cpu < 4000 {
					cpuStarved += f
				}
			}
		}
		x[1] += cpu
		x[2] += mem
		byModel[m] = x
	}
	keys := []string{}
	for k := range byModel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("model %-8s freeGPUmilli %7d freeCPU %7d freeMemGi %6d", k, byModel[k][0], byModel[k][1], byModel[k][2])
	}
	t.Logf("partial slices %d, whole free %d, of which on nodes with <4 cores free %d", partial, wholeFree, cpuStarved)
}
