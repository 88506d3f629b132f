package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gpu-scheduler/gpu-scheduler/pkg/sim"
)

// MaxTimelineRows bounds each timeline CSV: longer timelines are sampled evenly, keeping the last row.
const MaxTimelineRows = 2000

// FractionalRule is the documented treatment of pods asking for a share of one GPU.
const FractionalRule = "a pod asking for a share of one GPU (openb gpu_milli < 1000, YAML gpuFraction) carries the " +
	"gpu-fraction annotation and no nvidia.com/gpu request, and is scheduled as the daemon would: gpu-scheduler's GPUFit " +
	"puts it on one GPU beside other shares; allocation counts its share in thousandths"

// TraceInfo describes the inputs of a summary.
type TraceInfo struct {
	Nodes       string `json:"nodes"`
	NodesFormat string `json:"nodes_format"`
	NodeCount   int    `json:"node_count"`
	Pods        string `json:"pods"`
	PodsFormat  string `json:"pods_format"`
	PodCount    int    `json:"pod_count"`
	GPUTotal    int64  `json:"gpu_total"`
	// FractionalPods counts the input pods asking for a share of one GPU.
	FractionalPods int `json:"fractional_pods"`
}

// ProfileMean is a profile's inflate results over its seeds: means and sample standard deviations.
type ProfileMean struct {
	Profile             string  `json:"profile"`
	Seeds               int     `json:"seeds"`
	AllocPctAt100Mean   float64 `json:"gpu_alloc_pct_at_100_mean"`
	AllocPctAt100Stddev float64 `json:"gpu_alloc_pct_at_100_stddev"`
	FragPctAt100Mean    float64 `json:"frag_pct_at_100_mean"`
	FragPctAt100Stddev  float64 `json:"frag_pct_at_100_stddev"`
	PodsFailedMean      float64 `json:"pods_failed_mean"`
	WallSecondsMean     float64 `json:"wall_seconds_mean"`
	FractionalMean      float64 `json:"fractional_mean"`
	// FFDCeilingMean is what an offline packer reaches on the same seeds (sim.FFDCeiling).
	FFDCeilingMean float64 `json:"ffd_ceiling_pct_mean"`
}

// Summary is summary.json. Runs holds *sim.Result (inflate) or *sim.ReplayResult (replay).
type Summary struct {
	Mode           string         `json:"mode"`
	Version        string         `json:"version,omitempty"`
	Trace          TraceInfo      `json:"trace"`
	Profiles       []string       `json:"profiles"`
	Seeds          []int64        `json:"seeds"`
	Ratio          float64        `json:"ratio,omitempty"`
	RetryCap       int            `json:"retry_cap,omitempty"`
	FractionalRule string         `json:"fractional_rule"`
	SkippedRows    int            `json:"skipped_rows"`
	SkippedReasons map[string]int `json:"skipped_reasons"`
	Runs           any            `json:"runs"`
	Means          []ProfileMean  `json:"means,omitempty"`
	FailedByReason []ReasonCount  `json:"failed_by_reason"`
}

// ReasonCount is how many Pods a profile failed, per seed on average, with one reason: the words of
// the FailedScheduling event the scheduler would give them.
type ReasonCount struct {
	Profile string  `json:"profile"`
	Reason  string  `json:"reason"`
	Pods    float64 `json:"pods_mean"`
}

// FailedByReason counts each profile's failed Pods by the reasons of their last attempt (a Pod counts
// once under each of its reasons), averaged over seeds: per profile in the given order, most Pods
// first. failed returns a run's profile and reasons.
func FailedByReason[R any](profiles []string, runs []R, failed func(R) (string, map[string]int)) []ReasonCount {
	sums := map[string]map[string]int{}
	seeds := map[string]int{}
	for _, r := range runs {
		profile, reasons := failed(r)
		seeds[profile]++
		if sums[profile] == nil {
			sums[profile] = map[string]int{}
		}
		for reason, n := range reasons {
			sums[profile][reason] += n
		}
	}
	out := []ReasonCount{}
	for _, p := range profiles {
		var rows []ReasonCount
		for reason, n := range sums[p] {
			rows = append(rows, ReasonCount{Profile: p, Reason: reason, Pods: float64(n) / float64(seeds[p])})
		}
		sort.Slice(rows, func(i, j int) bool {
			if rows[i].Pods != rows[j].Pods {
				return rows[i].Pods > rows[j].Pods
			}
			return rows[i].Reason < rows[j].Reason
		})
		out = append(out, rows...)
	}
	return out
}

// PrintFailedByReason writes the failed Pods per profile and reason, if any failed.
func PrintFailedByReason(w io.Writer, counts []ReasonCount) {
	if len(counts) == 0 {
		return
	}
	fmt.Fprintln(w, "\nPods that failed, by reason (per seed; a Pod counts under each reason of its last attempt):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "profile\tpods\treason")
	for _, c := range counts {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Profile, count(c.Pods), c.Reason)
	}
	tw.Flush()
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// Means computes each profile's means over seeds, in the order of profiles.
func Means(profiles []string, runs []*sim.Result) []ProfileMean {
	out := make([]ProfileMean, 0, len(profiles))
	for _, name := range profiles {
		var alloc, frag, failed, wall, frac, ceiling []float64
		for _, r := range runs {
			if r.Profile != name {
				continue
			}
			alloc = append(alloc, r.AllocPctAt100)
			frag = append(frag, r.FragPctAt100)
			failed = append(failed, float64(r.PodsFailed))
			wall = append(wall, r.WallSeconds)
			frac = append(frac, float64(r.Fractional))
			ceiling = append(ceiling, r.FFDCeilingPct)
		}
		m := ProfileMean{Profile: name, Seeds: len(alloc)}
		m.AllocPctAt100Mean, m.AllocPctAt100Stddev = meanStddev(alloc)
		m.FragPctAt100Mean, m.FragPctAt100Stddev = meanStddev(frag)
		m.PodsFailedMean, _ = meanStddev(failed)
		m.WallSecondsMean, _ = meanStddev(wall)
		m.FractionalMean, _ = meanStddev(frac)
		m.FFDCeilingMean, _ = meanStddev(ceiling)
		out = append(out, m)
	}
	return out
}

// meanStddev is the mean and the sample standard deviation (0 for fewer than two values).
func meanStddev(v []float64) (mean, sd float64) {
	if len(v) == 0 {
		return 0, 0
	}
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(v)-1))
}

// sampleIndexes picks at most limit indexes of n, evenly spread, always the first and the last.
func sampleIndexes(n, limit int) []int {
	if n <= limit {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, limit)
	for i := range out {
		out[i] = int(int64(i) * int64(n-1) / int64(limit-1))
	}
	return out
}

// fileName makes a profile name safe in a file name.
func fileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// TimelineFile is the name of an inflate run's timeline CSV.
func TimelineFile(profile string, seed int64) string {
	return fmt.Sprintf("timeline-%s-%d.csv", fileName(profile), seed)
}

// ReplayFile is the name of a replay run's timeline CSV.
func ReplayFile(profile string, seed int64) string {
	return fmt.Sprintf("replay-%s-%d.csv", fileName(profile), seed)
}

func writeCSV(path, header string, n int, row func(w *bufio.Writer, i int)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	w.WriteString(header + "\n")
	for _, i := range sampleIndexes(n, MaxTimelineRows) {
		row(w, i)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func pct(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

func writeTimeline(path string, tl []sim.Point) error {
	return writeCSV(path, "arrived_pct,alloc_pct,frag_pct", len(tl), func(w *bufio.Writer, i int) {
		p := tl[i]
		w.WriteString(pct(p.ArrivedPct) + "," + pct(p.AllocPct) + "," + pct(p.FragPct) + "\n")
	})
}

// writeTimePoints writes a replay's timeline; header names its columns (time, allocation, running,
// queued).
func writeTimePoints(path, header string, tl []sim.TimePoint) error {
	return writeCSV(path, header, len(tl), func(w *bufio.Writer, i int) {
		p := tl[i]
		fmt.Fprintf(w, "%d,%s,%d,%d\n", p.Time, pct(p.AllocPct), p.Running, p.Queued)
	})
}

// allocationAt is the allocation when arrivals had reached x: that of the last point at or below it.
func allocationAt(tl []sim.Point, x float64) float64 {
	k := sort.Search(len(tl), func(i int) bool { return tl[i].ArrivedPct > x })
	if k == 0 {
		return 0
	}
	return tl[k-1].AllocPct
}

// InflateChart draws allocation against arrivals, one line per profile: the mean over its seeds,
// sampled every 0.25% of arrivals up to where its shortest run ends.
func InflateChart(profiles []string, runs []*sim.Result, ratio float64, seeds int) *Chart {
	c := &Chart{
		Title:         "GPU allocation vs arrived GPU requests",
		XLabel:        "arrived GPU requests, % of cluster GPUs",
		YLabel:        "allocated GPUs, % of cluster GPUs",
		YMax:          100,
		VLine:         100,
		VLineLabel:    "arrived = 100%",
		Diagonal:      true,
		DiagonalLabel: "every arrival placed",
	}
	if seeds > 1 {
		c.Title += fmt.Sprintf(" (mean of %d seeds)", seeds)
	}
	xMax := 100 * ratio
	for _, name := range profiles {
		var mine []*sim.Result
		end := math.Inf(1)
		for _, r := range runs {
			if r.Profile == name && len(r.Timeline) > 0 {
				mine = append(mine, r)
				end = math.Min(end, r.Timeline[len(r.Timeline)-1].ArrivedPct)
			}
		}
		if len(mine) == 0 {
			continue
		}
		xMax = math.Max(xMax, end)
		s := Series{Name: name}
		const step = 0.25
		for i := 0; ; i++ {
			x := math.Min(float64(i)*step, end)
			var sum float64
			for _, r := range mine {
				sum += allocationAt(r.Timeline, x)
			}
			s.Points = append(s.Points, [2]float64{x, sum / float64(len(mine))})
			if x >= end {
				break
			}
		}
		c.Series = append(c.Series, s)
	}
	c.XMax = math.Ceil(xMax/10) * 10
	return c
}

// ReplayChart draws GPU allocation over time as steps, one line per profile (its first seed's run).
func ReplayChart(profiles []string, runs []*sim.ReplayResult) *Chart {
	var span int64
	for _, r := range runs {
		if n := len(r.Timeline); n > 0 {
			span = max(span, r.Timeline[n-1].Time)
		}
	}
	unit, unitName := 3600.0, "hours"
	switch {
	case span > 3*86400:
		unit, unitName = 86400, "days"
	case span < 3*3600:
		unit, unitName = 60, "minutes"
	}
	c := &Chart{
		Title:  "GPU allocation over time (replay)",
		XLabel: "time from the trace start, " + unitName,
		YLabel: "allocated GPUs, % of cluster GPUs",
		YMax:   100,
		XMax:   math.Max(float64(span)/unit, 1e-9),
	}
	for _, name := range profiles {
		for _, r := range runs {
			if r.Profile != name {
				continue
			}
			s := Series{Name: name}
			for k, i := range sampleIndexes(len(r.Timeline), MaxTimelineRows) {
				p := r.Timeline[i]
				x := float64(p.Time) / unit
				if k > 0 { // allocation holds between events: draw steps
					s.Points = append(s.Points, [2]float64{x, s.Points[len(s.Points)-1][1]})
				}
				s.Points = append(s.Points, [2]float64{x, p.AllocPct})
			}
			c.Series = append(c.Series, s)
			break
		}
	}
	return c
}

func count(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// PrintInflateTable writes the per-profile means over seeds.
func PrintInflateTable(w io.Writer, means []ProfileMean) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "profile\tseeds\talloc% @100\tfrag% @100\tpods failed\twall s\tfractional pods\toffline FFD %")
	for _, m := range means {
		fmt.Fprintf(tw, "%s\t%d\t%.2f ± %.2f\t%.2f ± %.2f\t%s\t%.1f\t%s\t%.2f\n", m.Profile, m.Seeds,
			m.AllocPctAt100Mean, m.AllocPctAt100Stddev, m.FragPctAt100Mean, m.FragPctAt100Stddev,
			count(m.PodsFailedMean), m.WallSecondsMean, count(m.FractionalMean), m.FFDCeilingMean)
	}
	tw.Flush()
}

// PrintReplayTable writes one row per replay run.
func PrintReplayTable(w io.Writer, runs []*sim.ReplayResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "profile\tseed\tplaced\tnever placed\tdelayed\tdelay mean s\tp50 s\tp95 s\tmax s\talloc% mean\talloc% peak\tfractional pods\twall s")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1f\t%.0f\t%.0f\t%.0f\t%.2f\t%.2f\t%d\t%.1f\n", r.Profile, r.Seed,
			r.PodsScheduled, r.PodsNeverPlaced, r.PodsDelayed, r.DelayMean, r.DelayP50, r.DelayP95, r.DelayMax,
			r.AllocPctMean, r.AllocPctPeak, r.Fractional, r.WallSeconds)
	}
	tw.Flush()
}

// outPath joins the output directory and a file name.
func outPath(dir, name string) string { return filepath.Join(dir, name) }
