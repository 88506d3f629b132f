package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

// nodesYAML is the demo cluster, draYAML its DRA node pool (--dra); podsYAML the Pods submitted
// after manifests/examples/.
var (
	//go:embed objects/nodes.yaml
	nodesYAML []byte
	//go:embed objects/dra.yaml
	draYAML []byte
	//go:embed objects/pods.yaml
	podsYAML []byte
)

// podResult is a submitted Pod and what became of it.
type podResult struct {
	pod    *corev1.Pod // as last read
	source string      // file it came from
	reason string      // FailedScheduling message if Pending
}

// splitYAML returns the non-empty YAML documents of data; source names it in errors.
func splitYAML(data []byte, source string) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

// decodeObjects decodes every YAML document of data (built-in kinds); source names it in errors.
func decodeObjects(data []byte, source string) ([]runtime.Object, error) {
	docs, err := splitYAML(data, source)
	if err != nil {
		return nil, err
	}
	objs := make([]runtime.Object, 0, len(docs))
	for i, doc := range docs {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: object %d: %w", source, i+1, err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}

// createNodes creates the demo nodes with their status (capacity, allocatable), and with --dra the
// DRA node pool with its DeviceClass and ResourceSlices.
func (d *demo) createNodes(ctx context.Context) ([]*corev1.Node, error) {
	nodes, err := d.createObjects(ctx, nodesYAML, "objects/nodes.yaml")
	if err != nil || !d.opts.dra {
		return nodes, err
	}
	draNodes, err := d.createObjects(ctx, draYAML, "objects/dra.yaml")
	return append(nodes, draNodes...), err
}

// createObjects creates the Nodes, DeviceClasses and ResourceSlices of an embedded YAML file and
// returns the Nodes.
func (d *demo) createObjects(ctx context.Context, data []byte, source string) ([]*corev1.Node, error) {
	objs, err := decodeObjects(data, source)
	if err != nil {
		return nil, err
	}
	var nodes []*corev1.Node
	for _, obj := range objs {
		switch o := obj.(type) {
		case *corev1.Node:
			if err := d.createNode(ctx, o); err != nil {
				return nil, err
			}
			nodes = append(nodes, o)
		case *resourceapi.DeviceClass:
			if _, err := d.client.ResourceV1().DeviceClasses().Create(ctx, o, metav1.CreateOptions{}); err != nil {
				return nil, fmt.Errorf("creating DeviceClass %s: %w", o.Name, err)
			}
		case *resourceapi.ResourceSlice:
			if _, err := d.client.ResourceV1().ResourceSlices().Create(ctx, o, metav1.CreateOptions{}); err != nil {
				return nil, fmt.Errorf("creating ResourceSlice %s: %w", o.Name, err)
			}
		default:
			return nil, fmt.Errorf("%s: %T is not a Node, DeviceClass or ResourceSlice", source, obj)
		}
	}
	d.logf("created %d nodes (%s)", len(nodes), source)
	return nodes, nil
}

// createNode creates the node with its status, as a kubelet registering itself would.
func (d *demo) createNode(ctx context.Context, n *corev1.Node) error {
	created, err := d.client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating node %s: %w", n.Name, err)
	}
	// The status sent with a create is kept (as when a kubelet registers a node); should an
	// apiserver drop it, set it, or the nodes would have no GPUs.
	if len(created.Status.Allocatable) == 0 && len(n.Status.Allocatable) > 0 {
		created.Status = n.Status
		if _, err := d.client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("setting status of node %s: %w", n.Name, err)
		}
	}
	return nil
}

// loadPods returns the Pods of manifests/examples/*.yaml (other kinds skipped) and objects/pods.yaml.
func (d *demo) loadPods() ([]podResult, error) {
	files, err := filepath.Glob(filepath.Join(d.opts.root, "manifests", "examples", "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	type src struct {
		name string
		data []byte
	}
	var srcs []src
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(d.opts.root, f)
		srcs = append(srcs, src{rel, data})
	}
	srcs = append(srcs, src{"hack/demo/objects/pods.yaml", podsYAML})
	var pods []podResult
	seen := map[string]string{}
	for _, s := range srcs {
		objs, err := decodeObjects(s.data, s.name)
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				m, _ := obj.(metav1.Object)
				name := ""
				if m != nil {
					name = m.GetName()
				}
				d.logf("skipping %s %s from %s: not a Pod", obj.GetObjectKind().GroupVersionKind().Kind, name, s.name)
				continue
			}
			if pod.Namespace == "" {
				pod.Namespace = metav1.NamespaceDefault
			}
			key := pod.Namespace + "/" + pod.Name
			if prev, dup := seen[key]; dup {
				return nil, fmt.Errorf("pod %s is in both %s and %s", key, prev, s.name)
			}
			seen[key] = s.name
			pods = append(pods, podResult{pod: pod, source: s.name})
		}
	}
	return pods, nil
}

// runWorkload submits the Pods one at a time, each after the previous one was bound or rejected, so
// the placements do not depend on how the scheduler's queue interleaves them.
func (d *demo) runWorkload(ctx context.Context) ([]podResult, error) {
	pods, err := d.loadPods()
	if err != nil {
		return nil, err
	}
	for ns := range namespacesOf(pods) {
		if ns == metav1.NamespaceDefault {
			continue
		}
		_, err := d.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	d.logf("submitting %d pods", len(pods))
	for i := range pods {
		p := &pods[i]
		created, err := d.client.CoreV1().Pods(p.pod.Namespace).Create(ctx, p.pod, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("creating pod %s from %s: %w", p.pod.Name, p.source, err)
		}
		p.pod = created
		err = waitFor(ctx, "pod "+created.Name+" to be bound or rejected", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			cur, err := d.client.CoreV1().Pods(created.Namespace).Get(ctx, created.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			p.pod = cur
			if cur.Spec.NodeName != "" {
				return true, nil
			}
			msg, err := d.failedScheduling(ctx, cur)
			p.reason = msg
			return msg != "", err
		})
		if err != nil {
			return nil, err
		}
		if p.pod.Spec.NodeName != "" {
			d.logf("  %-24s -> %s", p.pod.Name, p.pod.Spec.NodeName)
		} else {
			d.logf("  %-24s Pending", p.pod.Name)
		}
	}
	return pods, nil
}

func namespacesOf(pods []podResult) map[string]bool {
	m := map[string]bool{}
	for _, p := range pods {
		m[p.pod.Namespace] = true
	}
	return m
}

// failedScheduling returns the message of the Pod's latest FailedScheduling event, or "".
func (d *demo) failedScheduling(ctx context.Context, pod *corev1.Pod) (string, error) {
	evs, err := d.client.CoreV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.Set{
			"involvedObject.kind": "Pod",
			"involvedObject.uid":  string(pod.UID),
			"reason":              "FailedScheduling",
		}.AsSelector().String(),
	})
	if err != nil || len(evs.Items) == 0 {
		return "", err
	}
	latest := evs.Items[0]
	for _, e := range evs.Items[1:] {
		if eventTime(e).After(eventTime(latest)) {
			latest = e
		}
	}
	return latest.Message, nil
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}
