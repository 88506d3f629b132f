package main

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

//go:embed objects/gang.yaml
var gangYAML []byte

var podGroups = schema.GroupVersionResource{Group: "scheduling.x-k8s.io", Version: "v1alpha1", Resource: "podgroups"}

// runGang creates the PodGroup and all its Pods at once (members wait for each other at Permit, so
// one-at-a-time submission would stall), then waits until every member is bound or rejected.
func (d *demo) runGang(ctx context.Context) ([]podResult, error) {
	docs, err := splitYAML(gangYAML, "hack/demo/objects/gang.yaml")
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(d.restConfig)
	if err != nil {
		return nil, err
	}
	var pods []podResult
	for _, doc := range docs {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return nil, fmt.Errorf("hack/demo/objects/gang.yaml: %w", err)
		}
		if u.GetKind() == "PodGroup" {
			if _, err := dyn.Resource(podGroups).Namespace(metav1.NamespaceDefault).Create(ctx, &u, metav1.CreateOptions{}); err != nil {
				return nil, fmt.Errorf("creating PodGroup %s: %w", u.GetName(), err)
			}
			continue
		}
		var pod corev1.Pod
		if err := yaml.Unmarshal(doc, &pod); err != nil {
			return nil, fmt.Errorf("hack/demo/objects/gang.yaml: %w", err)
		}
		pod.Namespace = metav1.NamespaceDefault
		created, err := d.client.CoreV1().Pods(pod.Namespace).Create(ctx, &pod, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("creating pod %s: %w", pod.Name, err)
		}
		pods = append(pods, podResult{pod: created, source: "hack/demo/objects/gang.yaml"})
	}
	d.logf("submitted gang ib-gang: %d pods", len(pods))
	err = waitFor(ctx, "gang ib-gang to be bound or rejected", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		done := true
		for i := range pods {
			p := &pods[i]
			cur, err := d.client.CoreV1().Pods(p.pod.Namespace).Get(ctx, p.pod.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			p.pod = cur
			if cur.Spec.NodeName != "" {
				continue
			}
			if p.reason, err = d.failedScheduling(ctx, cur); err != nil {
				return false, err
			}
			done = done && p.reason != ""
		}
		return done, nil
	})
	if err != nil {
		return nil, err
	}
	for _, p := range pods {
		d.logf("  %-24s -> %s", p.pod.Name, p.pod.Spec.NodeName)
	}
	return pods, nil
}
