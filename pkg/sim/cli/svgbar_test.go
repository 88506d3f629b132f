package cli

import (
	"encoding/xml"
	"fmt"
	"strings"
	"testing"
)

// TestBarChartManySeries: with more series than a legend column holds, the legend takes columns
// and no bar has a negative height.
func TestBarChartManySeries(t *testing.T) {
	c := &BarChart{Title: "t", YLabel: "%", YMax: 100, Groups: []string{"a", "b", "c"}}
	for i := range 24 {
		c.Series = append(c.Series, BarSeries{Name: fmt.Sprintf("s%d", i), Values: []float64{10, 50, 100}})
	}
	svg := string(c.SVG())
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	if strings.Contains(svg, `height="-`) {
		t.Errorf("a negative height:\n%s", svg)
	}
	if bars := strings.Count(svg, "<title>"); bars != 72 {
		t.Errorf("%d bars, want 72", bars)
	}
}

// TestSeriesStylesPastThePalette: series whose colour comes round again are drawn in a style of
// their own, in the chart and its legend, for bars and for lines.
func TestSeriesStylesPastThePalette(t *testing.T) {
	n := 2*len(palette) + 1
	bars := &BarChart{Title: "t", YLabel: "%", YMax: 100, Groups: []string{"a"}}
	lines := &Chart{Title: "t", XLabel: "x", YLabel: "y"}
	for i := range n {
		bars.Series = append(bars.Series, BarSeries{Name: fmt.Sprintf("s%d", i), Values: []float64{50}})
		lines.Series = append(lines.Series, Series{Name: fmt.Sprintf("s%d", i), Points: [][2]float64{{0, 0}, {1, float64(i)}}})
	}
	for name, svg := range map[string]string{"bars": string(bars.SVG()), "lines": string(lines.SVG())} {
		if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
			t.Fatalf("%s: not XML: %v", name, err)
		}
		// Series 10-19 (first dash) and 20 (second), each in the chart and in the legend.
		if got := strings.Count(svg, `stroke-dasharray="10,4"`); got != 2*len(palette) {
			t.Errorf("%s: %d marks in the second round's dash, want %d", name, got, 2*len(palette))
		}
		if got := strings.Count(svg, `stroke-dasharray="1,3"`); got != 2 {
			t.Errorf("%s: %d marks in the third round's dash, want 2", name, got)
		}
	}
	if lineStyle(0) == lineStyle(len(palette)) || barStyle(0) == barStyle(len(palette)) {
		t.Errorf("series 0 and %d look alike: lines %q %q, bars %q %q", len(palette),
			lineStyle(0), lineStyle(len(palette)), barStyle(0), barStyle(len(palette)))
	}
}
