// Command openb-variants writes synthetic variants of the openb pod lists, between the published
// ones, to check that a policy tuned on ../shared/data/openb holds on traces it was not tuned on.
// They follow how the openb traces were derived from the default one (its README: "sampled from
// the default one, emphasizing certain types of workloads"), as far as the shared files show it:
//
//   - synth-multigpuX: the default list plus multi-GPU Pods drawn from its own, until they ask X%
//     of the GPU demand (multigpu50 has 50%).
//   - synth-gpushareX: CPU-only Pods kept; the GPU Pods redrawn, X% from the shares of one GPU and
//     the rest from the other GPU Pods (gpushare100: all shares; default: 44%).
//   - synth-cpuX: the default list plus CPU-only Pods drawn from its own, until they ask X% of the
//     default's CPU-only CPU (cpu250 asks 215%).
//   - synth-gpuspecX: gpuspec33 with each model constraint kept with probability X/33.
//
// Usage: go run ./hack/openb-variants --from ../shared/data/openb --out _output/openb-variants
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
)

func main() {
	from := flag.String("from", "../shared/data/openb", "directory holding the openb pod lists")
	out := flag.String("out", "_output/openb-variants", "directory to write the variants to")
	seed := flag.Int64("seed", 1, "seed of the draws")
	flag.Parse()
	if err := run(*from, *out, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "openb-variants:", err)
		os.Exit(1)
	}
}

func run(from, out string, seed int64) error {
	def, err := read(filepath.Join(from, "openb_pod_list_default.csv"))
	if err != nil {
		return err
	}
	spec, err := read(filepath.Join(from, "openb_pod_list_gpuspec33.csv"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	variants := map[string]*table{}
	for _, x := range []int{20, 30, 40} {
		variants[fmt.Sprintf("synth-multigpu%d", x)] = def.moreMultiGPU(rand.New(rand.NewSource(seed)), float64(x)/100)
	}
	for _, x := range []int{60, 80} {
		variants[fmt.Sprintf("synth-gpushare%d", x)] = def.redrawGPU(rand.New(rand.NewSource(seed)), float64(x)/100)
	}
	for _, x := range []int{150} {
		variants[fmt.Sprintf("synth-cpu%d", x)] = def.moreCPUOnly(rand.New(rand.NewSource(seed)), float64(x)/100)
	}
	for _, x := range []int{10, 20} {
		variants[fmt.Sprintf("synth-gpuspec%d", x)] = spec.fewerSpecs(rand.New(rand.NewSource(seed)), float64(x)/33)
	}
	for name, t := range variants {
		path := filepath.Join(out, "openb_pod_list_"+name+".csv")
		if err := t.write(path); err != nil {
			return err
		}
		fmt.Println(path, len(t.rows), "pods")
	}
	return nil
}

// table is a pod list: its header and rows, as read.
type table struct {
	header []string
	rows   [][]string
	col    map[string]int
}

func read(path string) (*table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(all) < 2 {
		return nil, fmt.Errorf("%s: no pods", path)
	}
	t := &table{header: all[0], rows: all[1:], col: map[string]int{}}
	for i, h := range t.header {
		t.col[h] = i
	}
	for _, c := range []string{"name", "cpu_milli", "num_gpu", "gpu_milli"} {
		if _, ok := t.col[c]; !ok {
			return nil, fmt.Errorf("%s: no %s column", path, c)
		}
	}
	return t, nil
}

func (t *table) write(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	if err := w.Write(t.header); err != nil {
		f.Close()
		return err
	}
	if err := w.WriteAll(t.rows); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (t *table) int(row []string, column string) int64 {
	v, _ := strconv.ParseInt(row[t.col[column]], 10, 64) // a bad cell counts as 0; gpu-sim reports it
	return v
}

// gpuMilli is a row's GPU demand in thousandths.
func (t *table) gpuMilli(row []string) int64 {
	if n := t.int(row, "num_gpu"); n != 1 {
		return n * 1000
	}
	return t.int(row, "gpu_milli")
}

func (t *table) is(row []string, kind string) bool {
	n, share := t.int(row, "num_gpu"), t.int(row, "gpu_milli")
	switch kind {
	case "cpu-only":
		return n == 0
	case "multi":
		return n > 1
	case "share":
		return n == 1 && share < 1000
	case "gpu":
		return n > 0
	}
	return false
}

func (t *table) where(kind string, not bool) [][]string {
	var out [][]string
	for _, r := range t.rows {
		if t.is(r, kind) != not {
			out = append(out, r)
		}
	}
	return out
}

// copyOf is row renamed, so that every Pod of a variant has its own name.
func (t *table) copyOf(row []string, k int) []string {
	c := append([]string(nil), row...)
	c[t.col["name"]] = fmt.Sprintf("%s-v%d", row[t.col["name"]], k)
	return c
}

func (t *table) with(rows [][]string) *table {
	return &table{header: t.header, rows: rows, col: t.col}
}

func (t *table) moreMultiGPU(rng *rand.Rand, share float64) *table {
	pool := t.where("multi", false)
	rows := append([][]string(nil), t.rows...)
	var multi, total int64
	for _, r := range rows {
		total += t.gpuMilli(r)
		if t.is(r, "multi") {
			multi += t.gpuMilli(r)
		}
	}
	for k := 0; float64(multi) < share*float64(total); k++ {
		r := t.copyOf(pool[rng.Intn(len(pool))], k)
		rows = append(rows, r)
		multi += t.gpuMilli(r)
		total += t.gpuMilli(r)
	}
	return t.with(rows)
}

func (t *table) redrawGPU(rng *rand.Rand, share float64) *table {
	shares, others := t.where("share", false), t.where("share", true)
	others = t.with(others).where("gpu", false)
	rows := t.where("cpu-only", false)
	n := len(t.where("gpu", false))
	for k := 0; k < n; k++ {
		pool := others
		if rng.Float64() < share {
			pool = shares
		}
		rows = append(rows, t.copyOf(pool[rng.Intn(len(pool))], k))
	}
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	return t.with(rows)
}

// sum adds up column over rows.
func (t *table) sum(rows [][]string, column string) int64 {
	var s int64
	for _, r := range rows {
		s += t.int(r, column)
	}
	return s
}

func (t *table) moreCPUOnly(rng *rand.Rand, factor float64) *table {
	pool := t.where("cpu-only", false)
	cpu := t.sum(pool, "cpu_milli")
	target := int64(factor * float64(cpu))
	rows := append([][]string(nil), t.rows...)
	for k := 0; cpu < target; k++ {
		r := t.copyOf(pool[rng.Intn(len(pool))], k)
		rows = append(rows, r)
		cpu += t.int(r, "cpu_milli")
	}
	return t.with(rows)
}

func (t *table) fewerSpecs(rng *rand.Rand, keep float64) *table {
	c, ok := t.col["gpu_spec"]
	rows := make([][]string, 0, len(t.rows))
	for _, r := range t.rows {
		r = append([]string(nil), r...)
		if ok && r[c] != "" && rng.Float64() >= keep {
			r[c] = ""
		}
		rows = append(rows, r)
	}
	return t.with(rows)
}
