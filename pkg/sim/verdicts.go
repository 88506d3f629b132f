package sim

import (
	"strings"
	"sync"

	fwk "k8s.io/kube-scheduler/framework"
)

// verdict stands for a Filter status: the same code and reasons get the same small number, so
// verdicts are cheap to store per node (filterMemo) and to count.
type verdict uint32

// feasibleVerdict is every node that passed.
const feasibleVerdict verdict = 0

type verdictKey struct {
	code    fwk.Code
	reasons string
}

// verdicts interns Filter statuses. of is called from the Filter goroutines.
type verdicts struct {
	mu       sync.Mutex
	ids      map[verdictKey]verdict
	statuses []*fwk.Status // by verdict; [0] is nil, success
}

func newVerdicts() *verdicts {
	return &verdicts{ids: map[verdictKey]verdict{}, statuses: []*fwk.Status{nil}}
}

// of returns status's verdict; the first status with a code and reasons stands for all later ones.
func (v *verdicts) of(status *fwk.Status) verdict {
	if status.IsSuccess() {
		return feasibleVerdict
	}
	key := verdictKey{code: status.Code()}
	if r := status.Reasons(); len(r) == 1 {
		key.reasons = r[0]
	} else {
		key.reasons = strings.Join(r, "\x00")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	id, ok := v.ids[key]
	if !ok {
		id = verdict(len(v.statuses))
		v.ids[key] = id
		v.statuses = append(v.statuses, status)
	}
	return id
}

// count adds one node rejected with verdict id to counts (nodes per verdict), growing it as new
// verdicts appear.
func count(counts []int, id verdict) []int {
	for int(id) >= len(counts) {
		counts = append(counts, 0)
	}
	counts[id]++
	return counts
}

// reasons turns counts into the reasons kube-scheduler reports (nodes per reason), or the error of
// a node whose Filter failed with one.
func (v *verdicts) reasons(counts []int) (map[string]int, error) {
	reasons := map[string]int{}
	v.mu.Lock()
	defer v.mu.Unlock()
	for id, n := range counts {
		if n == 0 {
			continue
		}
		status := v.statuses[id]
		if status.Code() == fwk.Error {
			return nil, status.AsError()
		}
		for _, r := range status.Reasons() {
			reasons[r] += n
		}
	}
	return reasons, nil
}
