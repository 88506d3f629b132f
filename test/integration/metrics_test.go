package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gpu-scheduler/gpu-scheduler/test/integration/util"
)

// TestGPUMetrics scrapes a running scheduler's /metrics: the GPU gauges follow what is bound (one
// whole GPU and a half share on a 4-GPU node: 1500 of 4000 thousandths allocated).
func TestGPUMetrics(t *testing.T) {
	env := util.NewEnv(t, util.EnvOptions{})
	ns := env.Namespace
	env.CreateNode(util.NodeSpec{Name: "gpu-0", GPUs: 4})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	sched := env.StartScheduler(util.SchedulerOptions{Name: "metrics", SecurePort: port})
	env.CreatePod(util.GPUPod(ns, "whole", 1))
	env.CreatePod(util.SharePod(ns, "half", "0.5"))
	env.WaitPodBound(ns, "whole", bindTimeout, sched)
	env.WaitPodBound(ns, "half", bindTimeout, sched)

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	want := []string{
		`gpu_scheduler_node_gpu_milli{node="gpu-0",state="allocated"} 1500`,
		`gpu_scheduler_node_gpu_milli{node="gpu-0",state="capacity"} 4000`,
		`gpu_scheduler_cluster_gpu_milli{state="allocated"} 1500`,
		`gpu_scheduler_cluster_gpu_milli{state="stranded"} 0`,
	}
	var body string
	// The gauges are recomputed every 15 s.
	env.Wait("the GPU gauges on /metrics", 60*time.Second, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/metrics", port), nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		for _, w := range want {
			if !strings.Contains(body, w) {
				return false, nil
			}
		}
		return true, nil
	}, func() string {
		var lines []string
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, "gpu_scheduler_") {
				lines = append(lines, line)
			}
		}
		return strings.Join(lines, "; ")
	})
	if !strings.Contains(body, `gpu_scheduler_cluster_gpu_milli{state="fragmented"}`) {
		t.Error("no fragmented gauge")
	}
}
