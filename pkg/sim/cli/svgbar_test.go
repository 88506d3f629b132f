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
