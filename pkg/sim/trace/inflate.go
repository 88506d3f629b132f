package trace

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

// Inflate builds the arrival sequence of the published openb experiment (the trace's README, "The
// published experiment"): it samples pods uniformly with replacement and appends them until the
// next one would take the total GPU request past ratio x totalGPUs x 1000 milli (it stops at that
// first pod that would overshoot, so the total never exceeds the target), then shuffles them.
// Total GPU request counts each pod's GPUMilli.
//
// Every returned pod is a deep copy renamed "<name>-i<k>" (UID to match), k its position in the
// result, which is the arrival order: CreatedAt is k (one arrival per second) and DeletedAt is
// NoTime, as the experiment has no deletions. The result depends only on the inputs and seed.
// It is empty when pods is, when the target is not positive, or when no pod requests a GPU, and it
// stops at MaxObjects pods.
func Inflate(pods []Pod, totalGPUs int64, ratio float64, seed int64) []Pod {
	if len(pods) == 0 || totalGPUs <= 0 || !(ratio > 0) || math.IsInf(ratio, 0) {
		return nil
	}
	// The tolerance keeps e.g. 1.3 x 6212 x 1000 from flooring to 8075599.
	targetF := ratio*float64(totalGPUs)*gpu.MilliPerGPU + 1e-6
	if targetF >= math.MaxInt64/2 {
		return nil
	}
	target := int64(targetF)
	if !anyGPU(pods) {
		return nil
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	picked := sample(pods, target, rng.IntN)
	rng.Shuffle(len(picked), func(a, b int) { picked[a], picked[b] = picked[b], picked[a] })
	out := make([]Pod, len(picked))
	for k, i := range picked {
		p := pods[i]
		p.Pod = p.Pod.DeepCopy()
		p.Pod.Name = inflatedName(p.Pod.Name, k)
		p.Pod.UID = podUID(p.Pod.Name)
		p.CreatedAt, p.DeletedAt, p.ScheduledAt = int64(k), NoTime, NoTime
		out[k] = p
	}
	return out
}

// sample draws pod indices with next until the next pod would take the total GPU milli past target.
func sample(pods []Pod, target int64, next func(n int) int) []int {
	var picked []int
	var total int64
	for len(picked) < MaxObjects {
		i := next(len(pods))
		milli := max(pods[i].GPUMilli, 0)
		if total+milli > target {
			break
		}
		total += milli
		picked = append(picked, i)
	}
	return picked
}

// anyGPU reports whether any pod requests a GPU; without one, sampling would never stop.
func anyGPU(pods []Pod) bool {
	for i := range pods {
		if pods[i].GPUMilli > 0 {
			return true
		}
	}
	return false
}

// inflatedName is name-i<k>, with name shortened when needed to stay a valid object name.
func inflatedName(name string, k int) string {
	suffix := "-i" + strconv.Itoa(k)
	if len(name)+len(suffix) > validation.DNS1123SubdomainMaxLength {
		name = strings.TrimRight(name[:validation.DNS1123SubdomainMaxLength-len(suffix)], "-.")
	}
	return name + suffix
}
