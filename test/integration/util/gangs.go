package util

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

const (
	// PodGroupCRD is the PodGroup CRD manifest, relative to the repository root.
	PodGroupCRD = "manifests/crds/scheduling.x-k8s.io_podgroups.yaml"
	// PodGroupLabel names a Pod's PodGroup (its gang).
	PodGroupLabel = "scheduling.x-k8s.io/pod-group"
	// TopologyRequiredAnnotation names the topology level a gang must stay inside.
	TopologyRequiredAnnotation = "gpu-scheduler.io/topology-required"
	// TopologyPreferredAnnotation names the topology level a gang would like to stay inside.
	TopologyPreferredAnnotation = "gpu-scheduler.io/topology-preferred"
	// IBLeafLabel and IBFabricLabel are the InfiniBand topology labels of config/scheduler-config.yaml.
	IBLeafLabel   = "network.gpu-scheduler.io/ib-leaf"
	IBFabricLabel = "network.gpu-scheduler.io/ib-fabric"
)

// PodGroupResource is the PodGroup API resource.
var PodGroupResource = schema.GroupVersionResource{Group: "scheduling.x-k8s.io", Version: "v1alpha1", Resource: "podgroups"}

// InstallPodGroupCRD creates the PodGroup CRD (manifests/crds) unless it exists, and waits until it
// is established. The shipped profile enables Coscheduling, whose PodGroup informer must sync before
// the scheduler schedules anything: StartScheduler calls this first.
func (e *Env) InstallPodGroupCRD() {
	e.T.Helper()
	if e.podGroupCRD {
		return
	}
	if _, err := e.CP.InstallCRDs(e.Ctx, e.Path(PodGroupCRD)); err != nil {
		e.T.Fatal(err)
	}
	e.podGroupCRD = true
}

// CreatePodGroup creates a PodGroup (scheduling.x-k8s.io/v1alpha1) with spec.minMember, through the
// dynamic client. The CRD must be installed.
func (e *Env) CreatePodGroup(namespace, name string, minMember int) {
	e.T.Helper()
	dyn, err := dynamic.NewForConfig(e.CP.Config)
	if err != nil {
		e.T.Fatal(err)
	}
	pg := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": PodGroupResource.GroupVersion().String(),
		"kind":       "PodGroup",
		"metadata":   map[string]any{"name": name, "namespace": namespace},
		"spec":       map[string]any{"minMember": int64(minMember)},
	}}
	if _, err := dyn.Resource(PodGroupResource).Namespace(namespace).Create(e.Ctx, pg, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
		e.T.Fatalf("creating PodGroup %s/%s: %v", namespace, name, err)
	}
}

// GangPods are the members of PodGroup group: <group>-0 .. <group>-(n-1), each asking gpus GPUs, with
// the pod-group label and the given annotations.
func GangPods(namespace, group string, n int, gpus int64, annotations map[string]string) []*corev1.Pod {
	out := make([]*corev1.Pod, n)
	for i := range out {
		p := GPUPod(namespace, fmt.Sprintf("%s-%d", group, i), gpus)
		p.Labels = map[string]string{PodGroupLabel: group}
		p.Annotations = map[string]string{}
		for k, v := range annotations {
			p.Annotations[k] = v
		}
		out[i] = p
	}
	return out
}

// BoundByGroup counts the bound Pods of every PodGroup in the namespace (by the pod-group label),
// leaving out Pods being deleted.
func (e *Env) BoundByGroup(ctx context.Context, namespace string) (map[string]int, error) {
	list, err := e.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: PodGroupLabel})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, p := range list.Items {
		g := p.Labels[PodGroupLabel]
		if _, ok := out[g]; !ok {
			out[g] = 0
		}
		if p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			out[g]++
		}
	}
	return out, nil
}

// NodesOf returns the nodes the Pods of PodGroup group are bound to, one entry per Pod.
func (e *Env) NodesOf(namespace, group string) []string {
	e.T.Helper()
	list, err := e.Client.CoreV1().Pods(namespace).List(e.Ctx, metav1.ListOptions{LabelSelector: PodGroupLabel + "=" + group})
	if err != nil {
		e.T.Fatal(err)
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, p.Spec.NodeName)
	}
	sort.Strings(out)
	return out
}

// DeleteGroupPods deletes the Pods of PodGroup group at once (grace period 0: no kubelet runs to
// confirm a graceful deletion) and waits until they are gone.
func (e *Env) DeleteGroupPods(namespace, group string) {
	e.T.Helper()
	zero := int64(0)
	sel := PodGroupLabel + "=" + group
	err := e.Client.CoreV1().Pods(namespace).DeleteCollection(e.Ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero},
		metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		e.T.Fatalf("deleting the pods of %s/%s: %v", namespace, group, err)
	}
	e.Wait("the pods of "+group+" to be gone", 30*time.Second, func(ctx context.Context) (bool, error) {
		list, err := e.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		return err == nil && len(list.Items) == 0, nil
	}, nil)
}

// DeletePodNow deletes a Pod with grace period 0 and waits until it is gone.
func (e *Env) DeletePodNow(namespace, name string) {
	e.T.Helper()
	zero := int64(0)
	if err := e.Client.CoreV1().Pods(namespace).Delete(e.Ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		e.T.Fatalf("deleting pod %s/%s: %v", namespace, name, err)
	}
	e.Wait("pod "+name+" to be gone", 30*time.Second, func(ctx context.Context) (bool, error) {
		_, err := e.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}, nil)
}

// GangWatch polls, in the background, how many Pods of each PodGroup are bound, and records a
// violation of all-or-nothing: a PodGroup with some but not all of its minMember Pods bound for
// longer than a grace period. (Binding calls of one gang run concurrently once Coscheduling permits
// it, so a look between two of them may see a few bound: that must resolve within the grace.)
type GangWatch struct {
	env       *Env
	namespace string
	grace     time.Duration

	mu       sync.Mutex
	size     map[string]int
	retired  map[string]bool
	partial  map[string]time.Time // group -> first seen partially bound, since last whole
	problems []string
	looks    int
	// partialLooks counts the looks that saw some gang partly bound (within the grace or not).
	partialLooks int
	stop         chan struct{}
	done         chan struct{}
}

// WatchGangs starts polling the namespace every PollInterval; sizes maps each PodGroup to its
// minMember. It stops when the test ends or at Stop.
func (e *Env) WatchGangs(namespace string, sizes map[string]int, grace time.Duration) *GangWatch {
	w := &GangWatch{env: e, namespace: namespace, grace: grace, size: map[string]int{}, retired: map[string]bool{},
		partial: map[string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	for g, n := range sizes {
		w.size[g] = n
	}
	go w.run()
	e.T.Cleanup(w.Stop)
	return w
}

// Retire stops checking group, e.g. before its Pods are deleted (deletions are not all at once).
func (w *GangWatch) Retire(group string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.retired[group] = true
	delete(w.partial, group)
}

// Stop ends the polling; it may be called more than once.
func (w *GangWatch) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

func (w *GangWatch) run() {
	defer close(w.done)
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-w.env.Ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(w.env.Ctx, 10*time.Second)
		bound, err := w.env.BoundByGroup(ctx, w.namespace)
		cancel()
		if err != nil {
			continue
		}
		w.look(bound, time.Now())
	}
}

func (w *GangWatch) look(bound map[string]int, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.looks++
	partial := false
	defer func() {
		if partial {
			w.partialLooks++
		}
	}()
	for g, n := range bound {
		size, known := w.size[g]
		if !known || w.retired[g] {
			continue
		}
		if n == 0 || n == size {
			delete(w.partial, g)
			continue
		}
		partial = true
		if n > size {
			w.problems = append(w.problems, fmt.Sprintf("%s: %d pods bound, more than its minMember %d", g, n, size))
			continue
		}
		first, seen := w.partial[g]
		if !seen {
			w.partial[g] = now
			continue
		}
		if now.Sub(first) > w.grace {
			w.problems = append(w.problems, fmt.Sprintf("%s: %d of %d pods bound for %v (since %s)", g, n, size,
				now.Sub(first).Round(time.Millisecond), first.Format("15:04:05.000")))
			delete(w.partial, g)
		}
	}
}

// Check fails the test if a violation was seen, and returns how many times the watch looked and how
// many of those looks saw a gang partly bound (binding calls in flight).
func (w *GangWatch) Check() (looks, partialLooks int) {
	w.env.T.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.problems) > 0 {
		w.env.T.Fatalf("gangs partially bound (all-or-nothing violated):\n  %s", strings.Join(w.problems, "\n  "))
	}
	return w.looks, w.partialLooks
}
