package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/gpu"
)

const (
	interconnectLabelIB = gpu.InterconnectLabelPrefix + "infiniband"
	pendingNode         = "<pending>"
	// draDriver is the driver of objects/dra.yaml's ResourceSlices (NVIDIA's DRA driver for GPUs).
	draDriver = "gpu.nvidia.com"
)

// report reads the cluster once more and prints the node and Pod tables and the Pending reasons.
func (d *demo) report(ctx context.Context, pods []podResult) error {
	nodeList, err := d.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	podList, err := d.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	nodes := map[string]*corev1.Node{}
	for i := range nodeList.Items {
		nodes[nodeList.Items[i].Name] = &nodeList.Items[i]
	}
	dra, err := d.draGPUs(ctx)
	if err != nil {
		return err
	}
	current := map[string]*corev1.Pod{}
	onNode := map[string][]*corev1.Pod{}
	for i := range podList.Items {
		p := &podList.Items[i]
		current[p.Namespace+"/"+p.Name] = p
		if p.Spec.NodeName != "" && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			onNode[p.Spec.NodeName] = append(onNode[p.Spec.NodeName], p)
		}
	}
	for i := range pods {
		if p := current[pods[i].pod.Namespace+"/"+pods[i].pod.Name]; p != nil {
			pods[i].pod = p
		}
		if pods[i].pod.Spec.NodeName == "" {
			if msg, err := d.failedScheduling(ctx, pods[i].pod); err == nil && msg != "" {
				pods[i].reason = msg
			}
		}
	}

	bound := 0
	for _, p := range pods {
		if p.pod.Spec.NodeName != "" {
			bound++
		}
	}
	out := d.stdout
	fmt.Fprintf(out, "gpu-scheduler demo: %d nodes, %d pods (%d bound, %d pending)\n\n",
		len(nodeList.Items), len(pods), bound, len(pods)-bound)

	names := make([]string, 0, len(nodes))
	for n := range nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tGPU MODEL\tGPUS\tINFINIBAND\tFREE GPUS")
	for _, n := range names {
		node := nodes[n]
		ib := "-"
		if node.Labels[interconnectLabelIB] == "true" {
			ib = "yes"
		}
		model, count, free := gpuModel(node), gpuCount(node), freeGPUs(node, onNode[n])
		if g, ok := dra[n]; ok && count == "-" {
			model, count, free = g.model, fmt.Sprintf("%d (DRA)", g.devices), strconv.Itoa(g.devices-g.allocated)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n, model, count, ib, free)
	}
	_ = tw.Flush()
	fmt.Fprintln(out)

	fmt.Fprintln(tw, "POD\tNODE\tGPU MODEL\tGPUS\tGPU INDEX\tNODE FREE GPUS")
	for _, p := range pods {
		node, model, free := pendingNode, "-", "-"
		if n := nodes[p.pod.Spec.NodeName]; n != nil {
			node, model, free = n.Name, gpuModel(n), freeGPUs(n, onNode[n.Name])
			if g, ok := dra[n.Name]; ok && gpuCount(n) == "-" {
				model, free = g.model, strconv.Itoa(g.devices-g.allocated)
			}
		} else if p.pod.Spec.NodeName != "" {
			node = p.pod.Spec.NodeName
		}
		idx := p.pod.Annotations[gpu.GPUIndexAnnotation]
		if idx == "" {
			idx = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.pod.Name, node, model, requested(p.pod), idx, free)
	}
	_ = tw.Flush()

	if bound < len(pods) {
		fmt.Fprintln(out, "\nPending:")
		for _, p := range pods {
			if p.pod.Spec.NodeName != "" {
				continue
			}
			reason := p.reason
			if reason == "" {
				reason = "(no FailedScheduling event)"
			}
			fmt.Fprintf(out, "  %s: %s\n", p.pod.Name, strings.TrimSpace(reason))
		}
	}
	return nil
}

// draNode is what a node's ResourceSlices publish of GPUs (--dra) and how many its claims hold.
type draNode struct {
	devices, allocated int
	model              string
}

// draGPUs reads the DRA node pool's GPUs from the API: the devices of NVIDIA's driver in each node's
// slices, their productName, and the devices that ResourceClaims' allocations hold.
func (d *demo) draGPUs(ctx context.Context) (map[string]draNode, error) {
	slices, err := d.client.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out, nodeOfPool := map[string]draNode{}, map[string]string{}
	for _, s := range slices.Items {
		if s.Spec.Driver != draDriver || s.Spec.NodeName == nil {
			continue
		}
		g := out[*s.Spec.NodeName]
		g.devices += len(s.Spec.Devices)
		for _, dev := range s.Spec.Devices {
			if a := dev.Attributes[gpu.ProductNameAttribute]; g.model == "" && a.StringValue != nil {
				g.model = *a.StringValue
			}
		}
		out[*s.Spec.NodeName] = g
		nodeOfPool[s.Spec.Pool.Name] = *s.Spec.NodeName
	}
	claims, err := d.client.ResourceV1().ResourceClaims(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, c := range claims.Items {
		if c.Status.Allocation == nil {
			continue
		}
		for _, r := range c.Status.Allocation.Devices.Results {
			if node, ok := nodeOfPool[r.Pool]; ok && r.Driver == draDriver {
				g := out[node]
				g.allocated++
				out[node] = g
			}
		}
	}
	return out, nil
}

func gpuModel(n *corev1.Node) string {
	if m := n.Labels[gpu.DefaultModelLabel]; m != "" {
		return m
	}
	return "-"
}

func gpuCount(n *corev1.Node) string {
	q, ok := n.Status.Allocatable[gpu.ResourceName]
	if !ok || q.IsZero() {
		return "-"
	}
	return q.String()
}

// requested is what the Pod asks for: whole GPUs ("2"), a share ("0.5") or "0".
func requested(p *corev1.Pod) string {
	dm, err := gpu.PodDemand(p)
	switch {
	case err != nil:
		return "invalid"
	case dm.Share > 0:
		return gpu.FormatFraction(dm.Share)
	}
	return strconv.FormatInt(dm.Whole, 10)
}

// freeGPUs is the node's GPU capacity not held by its Pods, counted with pkg/gpu's accounting (a
// GPU holding shares is not free for whole-GPU Pods; its unshared rest shows as a fraction).
func freeGPUs(n *corev1.Node, pods []*corev1.Pod) string {
	q, ok := n.Status.Allocatable[gpu.ResourceName]
	if !ok || q.IsZero() {
		return "-"
	}
	s := gpu.NodeState{Allocatable: q.Value()}
	for _, p := range pods {
		dm, err := gpu.PodDemand(p)
		if err != nil || dm.None() {
			continue
		}
		if dm.Whole > 0 {
			s.Take(dm, 0)
			continue
		}
		idx, err := strconv.Atoi(p.Annotations[gpu.GPUIndexAnnotation])
		if err != nil || idx < 0 || idx >= gpu.MaxGPUsPerNode || int64(idx) >= s.Allocatable {
			s.WholeUsed++ // a share without a known GPU holds a whole one, as the scheduler counts it
			continue
		}
		s.Take(dm, idx)
	}
	milli := s.FreeMilli()
	if milli%gpu.MilliPerGPU == 0 {
		return strconv.FormatInt(milli/gpu.MilliPerGPU, 10)
	}
	return strconv.FormatInt(milli/gpu.MilliPerGPU, 10) + strings.TrimPrefix(gpu.FormatFraction(milli%gpu.MilliPerGPU), "0")
}

// printHints tells a --keep user how to reach the cluster and how to stop and restart
// gpu-scheduler on its own (to try a restart or a config change): the cluster keeps running.
func (d *demo) printHints() {
	kubectl := filepath.Join(d.binDir, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		d.logf("warning: %s is missing (`make tools` builds it)", kubectl)
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, kubectl); err == nil && !strings.HasPrefix(rel, "..") {
			kubectl = rel
		}
	}
	w := d.stdout
	fmt.Fprintf(w, "\nDev cluster running (Ctrl-C or SIGTERM stops it):\n")
	fmt.Fprintf(w, "  export KUBECONFIG=%s\n", d.adminKubeconfig)
	fmt.Fprintf(w, "  %s get nodes -L %s,%s\n", kubectl, gpu.DefaultModelLabel, "nvidia.com/gpu.count")
	fmt.Fprintf(w, "  %s get pods -o wide\n", kubectl)
	fmt.Fprintf(w, "kube-apiserver %s; gpu-scheduler uses config/local-kubeconfig.yaml (static token); logs in %s\n",
		d.apiURL, filepath.Join(d.opts.dir, "logs"))
	fmt.Fprintf(w, "gpu-scheduler runs apart from the cluster: stopping it leaves etcd, kube-apiserver and the nodes up.\n")
	fmt.Fprintf(w, "%skill $(cat %s)\n", stopHint, d.schedulerPidFile())
	fmt.Fprintf(w, "%s%s\n", restartHint, d.restartCommand())
	fmt.Fprintf(w, "  (in the foreground; edit the --config file first to try a change)\n")
}

// The stop and restart lines printHints prints start with these (the restart test runs them).
const (
	stopHint    = "  stop it:    "
	restartHint = "  restart it: "
)
