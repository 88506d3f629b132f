package util

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HolderChange is a change of a Lease's holder seen by a LeaseRecorder.
type HolderChange struct {
	At          time.Time
	Holder      string
	Transitions int32
}

// LeaseRecorder polls a Lease every PollInterval and records each change of its holder.
type LeaseRecorder struct {
	mu      sync.Mutex
	changes []HolderChange
	stop    context.CancelFunc
	done    chan struct{}
}

// RecordLease starts recording the holder of a Lease until the test ends or Stop is called.
func (e *Env) RecordLease(namespace, name string) *LeaseRecorder {
	ctx, cancel := context.WithCancel(e.Ctx)
	r := &LeaseRecorder{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		last := ""
		for {
			l, err := e.Client.CoordinationV1().Leases(namespace).Get(ctx, name, metav1.GetOptions{})
			if err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != last {
				last = *l.Spec.HolderIdentity
				var tr int32
				if l.Spec.LeaseTransitions != nil {
					tr = *l.Spec.LeaseTransitions
				}
				r.mu.Lock()
				r.changes = append(r.changes, HolderChange{At: time.Now(), Holder: last, Transitions: tr})
				r.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(PollInterval):
			}
		}
	}()
	e.T.Cleanup(r.Stop)
	return r
}

// Stop ends the recording.
func (r *LeaseRecorder) Stop() {
	r.stop()
	<-r.done
}

// Changes returns the holder changes so far.
func (r *LeaseRecorder) Changes() []HolderChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]HolderChange(nil), r.changes...)
}

// Holder returns the current holder ("" before the first).
func (r *LeaseRecorder) Holder() string {
	c := r.Changes()
	if len(c) == 0 {
		return ""
	}
	return c[len(c)-1].Holder
}
