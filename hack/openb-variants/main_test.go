package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const openb = "../../../shared/data/openb"

// TestVariants: each variant has the mix its name says, and every Pod its own name.
func TestVariants(t *testing.T) {
	if _, err := os.Stat(openb); err != nil {
		t.Skip("the openb trace is not beside the repository:", err)
	}
	out := t.TempDir()
	if err := run(openb, out, 1); err != nil {
		t.Fatal(err)
	}
	def, err := read(filepath.Join(openb, "openb_pod_list_default.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defCPU := def.sum(def.where("cpu-only", false), "cpu_milli")
	tests := []struct {
		name string
		// got is the measured mix, want its target, within tolerance.
		got       func(v *table) float64
		want, tol float64
	}{
		{"synth-multigpu20", multiShare, 0.20, 0.01},
		{"synth-multigpu40", multiShare, 0.40, 0.01},
		{"synth-gpushare60", gpuShareShare, 0.60, 0.03},
		{"synth-gpushare80", gpuShareShare, 0.80, 0.03},
		{"synth-cpu150", func(v *table) float64 {
			return float64(v.sum(v.where("cpu-only", false), "cpu_milli")) / float64(defCPU)
		}, 1.50, 0.01},
		{"synth-gpuspec10", specShare, 0.10, 0.02},
		{"synth-gpuspec20", specShare, 0.20, 0.02},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := read(filepath.Join(out, "openb_pod_list_"+tt.name+".csv"))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(v); got < tt.want-tt.tol || got > tt.want+tt.tol {
				t.Errorf("mix = %.3f, want %.2f ± %.2f", got, tt.want, tt.tol)
			}
			names := map[string]bool{}
			for _, r := range v.rows {
				n := r[v.col["name"]]
				if names[n] {
					t.Fatalf("pod %s twice", n)
				}
				names[n] = true
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"openb_pod_list_default.csv":   "name,cpu_milli,memory_mib,num_gpu\np,1000,1024,1\n",
		"openb_pod_list_gpuspec33.csv": "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1000,1024,1,1000\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(dir, t.TempDir(), 1); err == nil || !strings.Contains(err.Error(), "no gpu_milli column") {
		t.Errorf("err = %v, want one naming the missing gpu_milli column", err)
	}
	if err := run(t.TempDir(), t.TempDir(), 1); err == nil || !strings.Contains(err.Error(), "openb_pod_list_default.csv") {
		t.Errorf("err = %v, want one naming the missing file", err)
	}
}

func multiShare(v *table) float64 {
	var multi, total int64
	for _, r := range v.rows {
		total += v.gpuMilli(r)
		if v.is(r, "multi") {
			multi += v.gpuMilli(r)
		}
	}
	return float64(multi) / float64(total)
}

func gpuShareShare(v *table) float64 {
	return frac(len(v.where("share", false)), len(v.where("gpu", false)))
}

func specShare(v *table) float64 {
	n := 0
	for _, r := range v.where("gpu", false) {
		if r[v.col["gpu_spec"]] != "" {
			n++
		}
	}
	return frac(n, len(v.where("gpu", false)))
}

func frac(a, b int) float64 { return float64(a) / float64(b) }
