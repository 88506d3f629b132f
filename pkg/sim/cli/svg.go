package cli

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
)

// Series is one named line of a Chart.
type Series struct {
	Name   string
	Points [][2]float64
}

// Chart is a line chart rendered as a self-contained SVG: one polyline per series, axes with ticks,
// a grid, a legend, and optionally a dashed vertical marker and a dotted y = x reference.
type Chart struct {
	Title, XLabel, YLabel string
	XMax, YMax            float64
	// VLine, when above 0, draws a dashed vertical line at that x, labelled VLineLabel.
	VLine      float64
	VLineLabel string
	// Diagonal draws y = x, labelled DiagonalLabel in the legend.
	Diagonal      bool
	DiagonalLabel string
	Series        []Series
}

// palette is colour-blind friendly enough for a handful of profiles (Okabe-Ito, then Tableau).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8c564b", "#7f7f7f", "#bcbd22", "#17becf"}

// roundDash tells apart series whose colour comes round again: the palette's first round is
// solid, each later round has a dash pattern of its own (styles repeat after 40 series), unlike
// the 100% marker's (6,4) and the diagonal's (2,3).
var roundDash = []string{"", "10,4", "1,3", "12,3,3,3"}

func seriesDash(i int) string { return roundDash[i/len(palette)%len(roundDash)] }

// lineStyle is the stroke of series i's line.
func lineStyle(i int) string {
	style := fmt.Sprintf(`stroke="%s"`, palette[i%len(palette)])
	if d := seriesDash(i); d != "" {
		style += fmt.Sprintf(` stroke-dasharray="%s"`, d)
	}
	return style
}

// barStyle is the fill of series i's bars, outlined in its round's dash after the first round.
func barStyle(i int) string {
	style := fmt.Sprintf(`fill="%s"`, palette[i%len(palette)])
	if d := seriesDash(i); d != "" {
		style += fmt.Sprintf(` stroke="#222" stroke-width="1.5" stroke-dasharray="%s"`, d)
	}
	return style
}

const (
	svgW, svgH                           = 860, 520
	padLeft, padRight, padTop, padBottom = 72, 28, 48, 62
)

// SVG renders the chart.
func (c *Chart) SVG() []byte {
	pw, ph := float64(svgW-padLeft-padRight), float64(svgH-padTop-padBottom)
	xMax, yMax := c.XMax, c.YMax
	if !(xMax > 0) {
		xMax = 1
	}
	if !(yMax > 0) {
		yMax = 1
	}
	sx := func(x float64) float64 { return padLeft + clamp(x/xMax, 0, 1)*pw }
	sy := func(y float64) float64 { return padTop + ph - clamp(y/yMax, 0, 1)*ph }

	var b bytes.Buffer
	writeSVGHeader(&b, c.Title)

	// Grid and ticks.
	b.WriteString(`<g stroke="#e6e6e6" stroke-width="1">` + "\n")
	xStep, yStep := niceStep(xMax), niceStep(yMax)
	for _, x := range ticks(xMax, xStep) {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f"/>`+"\n", sx(x), padTop, sx(x), padTop+ph)
	}
	for _, y := range ticks(yMax, yStep) {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", padLeft, sy(y), padLeft+pw, sy(y))
	}
	b.WriteString("</g>\n")
	b.WriteString(`<g stroke="#333" stroke-width="1">` + "\n")
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", padLeft, padTop+ph, padLeft+pw, padTop+ph)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%.1f"/>`+"\n", padLeft, padTop, padLeft, padTop+ph)
	for _, x := range ticks(xMax, xStep) {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", sx(x), padTop+ph, sx(x), padTop+ph+5)
	}
	for _, y := range ticks(yMax, yStep) {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`+"\n", padLeft-5, sy(y), padLeft, sy(y))
	}
	b.WriteString("</g>\n")
	b.WriteString(`<g fill="#333">` + "\n")
	for _, x := range ticks(xMax, xStep) {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", sx(x), padTop+ph+19, fmtTick(x))
	}
	for _, y := range ticks(yMax, yStep) {
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", padLeft-9, sy(y)+4, fmtTick(y))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="13">%s</text>`+"\n", padLeft+pw/2, svgH-16, esc(c.XLabel))
	fmt.Fprintf(&b, `<text x="18" y="%.1f" text-anchor="middle" font-size="13" transform="rotate(-90 18 %.1f)">%s</text>`+"\n", padTop+ph/2, padTop+ph/2, esc(c.YLabel))
	b.WriteString("</g>\n")

	// References.
	if c.Diagonal {
		m := math.Min(xMax, yMax)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" stroke-width="1" stroke-dasharray="2,3"/>`+"\n", sx(0), sy(0), sx(m), sy(m))
	}
	if c.VLine > 0 && c.VLine <= xMax {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#555" stroke-width="1.2" stroke-dasharray="6,4"/>`+"\n", sx(c.VLine), padTop, sx(c.VLine), padTop+ph)
		if c.VLineLabel != "" {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#555">%s</text>`+"\n", sx(c.VLine)+5, padTop+14, esc(c.VLineLabel))
		}
	}

	// Lines.
	for i, s := range c.Series {
		fmt.Fprintf(&b, `<polyline fill="none" %s stroke-width="2" stroke-linejoin="round" points="`, lineStyle(i))
		for k, p := range s.Points {
			if k > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.2f,%.2f", sx(p[0]), sy(p[1]))
		}
		fmt.Fprintf(&b, `"><title>%s</title></polyline>`+"\n", esc(s.Name))
	}

	// Legend, top left, where an allocation curve (below y = x) never goes.
	rows := len(c.Series)
	if c.Diagonal && c.DiagonalLabel != "" {
		rows++
	}
	if rows > 0 {
		width := 60.0
		for _, s := range c.Series {
			width = math.Max(width, 44+7*float64(len(s.Name)))
		}
		if c.Diagonal {
			width = math.Max(width, 44+7*float64(len(c.DiagonalLabel)))
		}
		x0, y0 := float64(padLeft+12), float64(padTop+12)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="white" fill-opacity="0.9" stroke="#ccc"/>`+"\n", x0, y0, width, 10+18*rows)
		for i, s := range c.Series {
			y := y0 + 17 + 18*float64(i)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" %s stroke-width="3"/>`+"\n", x0+8, y-4, x0+30, y-4, lineStyle(i))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", x0+36, y, esc(s.Name))
		}
		if c.Diagonal && c.DiagonalLabel != "" {
			y := y0 + 17 + 18*float64(len(c.Series))
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" stroke-width="1" stroke-dasharray="2,3"/>`+"\n", x0+8, y-4, x0+30, y-4)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#555">%s</text>`+"\n", x0+36, y, esc(c.DiagonalLabel))
		}
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// writeSVGHeader opens an svgW x svgH drawing on a white ground with its title.
func writeSVGHeader(b *bytes.Buffer, title string) {
	fmt.Fprintf(b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgW, svgH)
	fmt.Fprintf(b, `<text x="%d" y="28" text-anchor="middle" font-size="16" font-weight="bold">%s</text>`+"\n", svgW/2, esc(title))
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func clamp(v, lo, hi float64) float64 {
	if math.IsNaN(v) {
		return lo
	}
	return math.Min(math.Max(v, lo), hi)
}

// niceStep picks a tick step of 1, 2 or 5 x 10^k giving about 5 to 14 ticks up to max.
func niceStep(max float64) float64 {
	raw := max / 10
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag*1.4 {
			return m * mag
		}
	}
	return 10 * mag
}

func ticks(max, step float64) []float64 {
	var out []float64
	for i := 0; ; i++ {
		v := float64(i) * step
		if v > max*(1+1e-9) {
			return out
		}
		out = append(out, v)
	}
}

func fmtTick(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}
