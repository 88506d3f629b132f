package util

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	resourcehelper "k8s.io/component-helpers/resource"
)

// GetPod reads a Pod from the API.
func (e *Env) GetPod(namespace, name string) *corev1.Pod {
	e.T.Helper()
	p, err := e.Client.CoreV1().Pods(namespace).Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		e.T.Fatalf("getting pod %s/%s: %v", namespace, name, err)
	}
	return p
}

// WaitPodBound waits until the Pod has a spec.nodeName and returns it. The schedulers, if given, must
// keep running meanwhile.
func (e *Env) WaitPodBound(namespace, name string, timeout time.Duration, scheds ...*Scheduler) string {
	e.T.Helper()
	var node string
	e.Wait(fmt.Sprintf("pod %s/%s to be bound", namespace, name), timeout, func(ctx context.Context) (bool, error) {
		if err := AliveCheck(scheds...); err != nil {
			return false, err
		}
		p, err := e.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		node = p.Spec.NodeName
		return node != "", nil
	}, func() string { return e.describePod(namespace, name) })
	return node
}

// describePod is the Pod's node and its FailedScheduling messages, for failure output.
func (e *Env) describePod(namespace, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := e.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	msgs := []string{fmt.Sprintf("nodeName=%q", p.Spec.NodeName)}
	evs, _ := e.failedScheduling(ctx, namespace, name)
	for _, ev := range evs {
		msgs = append(msgs, "FailedScheduling: "+ev.Message)
	}
	return strings.Join(msgs, "; ")
}

// ListPods lists the Pods of a namespace ("" for all).
func (e *Env) ListPods(namespace string) []corev1.Pod {
	e.T.Helper()
	list, err := e.Client.CoreV1().Pods(namespace).List(e.Ctx, metav1.ListOptions{})
	if err != nil {
		e.T.Fatalf("listing pods in %q: %v", namespace, err)
	}
	return list.Items
}

// Split returns the bound and the unbound Pods.
func Split(pods []corev1.Pod) (bound, unbound []corev1.Pod) {
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			bound = append(bound, p)
		} else {
			unbound = append(unbound, p)
		}
	}
	return bound, unbound
}

// WaitBoundCount waits until exactly want Pods of the namespace are bound and returns the Pods. It
// fails at once if more are bound, or a scheduler exited.
func (e *Env) WaitBoundCount(namespace string, want int, timeout time.Duration, scheds ...*Scheduler) []corev1.Pod {
	e.T.Helper()
	var pods []corev1.Pod
	var bound int
	e.Wait(fmt.Sprintf("%d pods bound in %s", want, namespace), timeout, func(ctx context.Context) (bool, error) {
		if err := AliveCheck(scheds...); err != nil {
			return false, err
		}
		list, err := e.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		pods = list.Items
		b, _ := Split(pods)
		bound = len(b)
		if bound > want {
			return false, fmt.Errorf("%d pods bound, more than the %d that fit", bound, want)
		}
		return bound == want, nil
	}, func() string { return fmt.Sprintf("%d of %d pods bound", bound, len(pods)) })
	return pods
}

func (e *Env) failedScheduling(ctx context.Context, namespace, pod string) ([]corev1.Event, error) {
	sel := fields.Set{"involvedObject.name": pod, "reason": "FailedScheduling"}.AsSelector().String()
	list, err := e.Client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// FailedScheduling returns the FailedScheduling events of a Pod.
func (e *Env) FailedScheduling(namespace, pod string) []corev1.Event {
	e.T.Helper()
	evs, err := e.failedScheduling(e.Ctx, namespace, pod)
	if err != nil {
		e.T.Fatalf("listing events of %s/%s: %v", namespace, pod, err)
	}
	return evs
}

// FailedSchedulingByPod returns the FailedScheduling event messages of every Pod in the namespace.
func (e *Env) FailedSchedulingByPod(namespace string) map[string][]string {
	e.T.Helper()
	sel := fields.Set{"reason": "FailedScheduling"}.AsSelector().String()
	list, err := e.Client.CoreV1().Events(namespace).List(e.Ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		e.T.Fatalf("listing events in %s: %v", namespace, err)
	}
	out := map[string][]string{}
	for _, ev := range list.Items {
		if ev.InvolvedObject.Kind == "Pod" {
			out[ev.InvolvedObject.Name] = append(out[ev.InvolvedObject.Name], ev.Message)
		}
	}
	return out
}

// WaitFailedScheduling waits for a FailedScheduling event of the Pod whose message contains substr,
// and returns the message.
func (e *Env) WaitFailedScheduling(namespace, pod, substr string, timeout time.Duration, scheds ...*Scheduler) string {
	e.T.Helper()
	var msg string
	e.Wait(fmt.Sprintf("a FailedScheduling event of %s/%s containing %q", namespace, pod, substr), timeout,
		func(ctx context.Context) (bool, error) {
			if err := AliveCheck(scheds...); err != nil {
				return false, err
			}
			evs, err := e.failedScheduling(ctx, namespace, pod)
			if err != nil {
				return false, nil
			}
			for _, ev := range evs {
				if strings.Contains(ev.Message, substr) {
					msg = ev.Message
					return true, nil
				}
			}
			return false, nil
		}, func() string { return e.describePod(namespace, pod) })
	return msg
}

// ConsistentlyUnbound checks for d that none of the Pods gets a node.
func (e *Env) ConsistentlyUnbound(namespace string, names []string, d time.Duration) {
	e.T.Helper()
	e.Consistently(fmt.Sprintf("pods %v stay unbound", names), d, func(ctx context.Context) (bool, string, error) {
		for _, n := range names {
			p, err := e.Client.CoreV1().Pods(namespace).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			if p.Spec.NodeName != "" {
				return false, fmt.Sprintf("pod %s was bound to %s", n, p.Spec.NodeName), nil
			}
		}
		return true, "", nil
	})
}

// PodGPUs is a Pod's effective nvidia.com/gpu request, computed with the upstream resource helpers
// (containers, init containers, sidecars, overhead), independent of the scheduler's code.
func PodGPUs(p *corev1.Pod) int64 {
	reqs := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
	q := reqs[GPUResource]
	return q.Value()
}

// ParseShare reads a gpu-fraction value into thousandths of a GPU.
func ParseShare(s string) (int64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f >= 1 {
		return 0, fmt.Errorf("bad fraction %q", s)
	}
	return int64(f*1000 + 0.5), nil
}

// CheckGPUAccounting checks, from the API alone, that no node is overcommitted: for every node, the
// whole GPUs its bound Pods request plus the GPUs holding shares are at most its GPUs (allocatable,
// or DRA devices its ResourceSlices publish), the shares on each GPU add up to at most one GPU, no
// DRA device is allocated twice and no node's claims hold more devices than it publishes. It
// returns one line per violation.
func (e *Env) CheckGPUAccounting() []string {
	e.T.Helper()
	nodes, err := e.Client.CoreV1().Nodes().List(e.Ctx, metav1.ListOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	published, held, problems := e.draAccounting()
	alloc := map[string]int64{}
	for _, n := range nodes.Items {
		q := n.Status.Allocatable[GPUResource]
		alloc[n.Name] = q.Value() + published[n.Name]
		if held[n.Name] > published[n.Name] {
			problems = append(problems, fmt.Sprintf("node %s: claims hold %d devices, it publishes %d", n.Name, held[n.Name], published[n.Name]))
		}
	}
	whole := map[string]int64{}
	shares := map[string]map[string]int64{} // node -> gpu index -> milli
	for _, p := range e.ListPods("") {
		if p.Spec.NodeName == "" {
			continue
		}
		if _, ok := alloc[p.Spec.NodeName]; !ok {
			problems = append(problems, fmt.Sprintf("pod %s/%s bound to unknown node %s", p.Namespace, p.Name, p.Spec.NodeName))
		}
		whole[p.Spec.NodeName] += PodGPUs(&p)
		if f, ok := p.Annotations[FractionAnnotation]; ok {
			milli, err := ParseShare(f)
			if err != nil {
				problems = append(problems, fmt.Sprintf("pod %s/%s: %v", p.Namespace, p.Name, err))
				continue
			}
			idx, ok := p.Annotations[GPUIndexAnnotation]
			if !ok {
				problems = append(problems, fmt.Sprintf("bound share pod %s/%s has no %s annotation", p.Namespace, p.Name, GPUIndexAnnotation))
				continue
			}
			if shares[p.Spec.NodeName] == nil {
				shares[p.Spec.NodeName] = map[string]int64{}
			}
			shares[p.Spec.NodeName][idx] += milli
		}
	}
	names := make([]string, 0, len(alloc))
	for n := range alloc {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		used := whole[n] + int64(len(shares[n]))
		if used > alloc[n] {
			problems = append(problems, fmt.Sprintf("node %s: %d whole GPUs requested + %d GPUs shared > %d allocatable",
				n, whole[n], len(shares[n]), alloc[n]))
		}
		for idx, milli := range shares[n] {
			i, err := strconv.Atoi(idx)
			if err != nil || i < 0 || int64(i) >= alloc[n] {
				problems = append(problems, fmt.Sprintf("node %s: share on GPU index %q, node has %d GPUs", n, idx, alloc[n]))
			}
			if milli > 1000 {
				problems = append(problems, fmt.Sprintf("node %s GPU %s: shares add up to %d/1000", n, idx, milli))
			}
		}
	}
	return problems
}

// RequireGPUAccounting fails the test if CheckGPUAccounting finds a problem.
func (e *Env) RequireGPUAccounting() {
	e.T.Helper()
	if problems := e.CheckGPUAccounting(); len(problems) > 0 {
		e.T.Fatalf("GPU accounting from the API is violated:\n  %s", strings.Join(problems, "\n  "))
	}
}
