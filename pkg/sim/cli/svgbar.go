package cli

import (
	"bytes"
	"fmt"
	"math"
)

// legendRows is how many legend entries a column holds: ten profiles' today and from-empty series
// fit in three columns and leave the plot most of the height.
const legendRows = 8

// BarSeries is one named set of bars of a BarChart: one value per group.
type BarSeries struct {
	Name   string
	Values []float64
}

// BarChart is a grouped bar chart rendered as a self-contained SVG: for each group, one bar per
// series side by side, each labelled with its value, a legend of the series above the plot.
type BarChart struct {
	Title, YLabel string
	YMax          float64
	Groups        []string
	Series        []BarSeries
}

// SVG renders the chart.
func (c *BarChart) SVG() []byte {
	// The legend takes columns of up to legendRows entries above the plot.
	cols := max(1, (len(c.Series)+legendRows-1)/legendRows)
	rows := min(len(c.Series), legendRows)
	top := float64(padTop + 18*rows + 8)
	pw, ph := float64(svgW-padLeft-padRight), float64(svgH)-top-padBottom
	yMax := c.YMax
	if !(yMax > 0) {
		yMax = 1
	}
	sy := func(y float64) float64 { return top + ph - clamp(y/yMax, 0, 1)*ph }

	var b bytes.Buffer
	writeSVGHeader(&b, c.Title)
	for i, s := range c.Series {
		x, y := padLeft+pw/float64(cols)*float64(i/legendRows), float64(padTop)+18*float64(i%legendRows)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="14" height="12" %s/>`+"\n", x, y, barStyle(i))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", x+20, y+10, esc(s.Name))
	}
	step := niceStep(yMax)
	b.WriteString(`<g stroke="#e6e6e6" stroke-width="1">` + "\n")
	for _, y := range ticks(yMax, step) {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", padLeft, sy(y), padLeft+pw, sy(y))
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(&b, `<g stroke="#333" stroke-width="1"><line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f"/><line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/></g>`+"\n",
		padLeft, top+ph, padLeft+pw, top+ph, padLeft, top, padLeft, top+ph)
	b.WriteString(`<g fill="#333">` + "\n")
	for _, y := range ticks(yMax, step) {
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", padLeft-9, sy(y)+4, fmtTick(y))
	}
	fmt.Fprintf(&b, `<text x="18" y="%.1f" text-anchor="middle" font-size="13" transform="rotate(-90 18 %.1f)">%s</text>`+"\n", top+ph/2, top+ph/2, esc(c.YLabel))
	b.WriteString("</g>\n")

	if len(c.Groups) == 0 || len(c.Series) == 0 {
		b.WriteString("</svg>\n")
		return b.Bytes()
	}
	groupW := pw / float64(len(c.Groups))
	barW := math.Min(60, groupW*0.8/float64(len(c.Series)))
	for g, name := range c.Groups {
		x0 := padLeft + groupW*float64(g) + (groupW-barW*float64(len(c.Series)))/2
		for i, s := range c.Series {
			if g >= len(s.Values) {
				continue
			}
			v := s.Values[g]
			x, y := x0+barW*float64(i), sy(v)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" %s><title>%s: %s</title></rect>`+"\n",
				x+1, y, barW-2, top+ph-y, barStyle(i), esc(s.Name), fmtTick(v))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>`+"\n", x+barW/2, y-3, fmtValue(v))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="13">%s</text>`+"\n", padLeft+groupW*(float64(g)+0.5), top+ph+22, esc(name))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// fmtValue labels a bar: one decimal.
func fmtValue(v float64) string { return fmt.Sprintf("%.1f", v) }
