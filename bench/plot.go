package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Plot geometry, in SVG user units.
const (
	plotW, plotH        = 720, 420
	plotLeft, plotRight = 60, 190
	plotTop, plotBottom = 30, 50
	plotPointsPerCurve  = 200
)

// A curve's colour says its contender, its dash its load.
var (
	plotColors = []string{"#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"}
	plotDashes = []string{"", "7,3", "2,3", "9,3,2,3", "4,4", "1,2"}
)

// curveStyles gives each contender a colour and each rate a dash, in the
// order they first appear.
func curveStyles(ss []Sample) (colors, dashes []string) {
	byName, byRate := map[string]int{}, map[float64]int{}
	for _, s := range ss {
		if _, ok := byName[s.Contender]; !ok {
			byName[s.Contender] = len(byName)
		}
		if _, ok := byRate[s.Rate]; !ok {
			byRate[s.Rate] = len(byRate)
		}
		colors = append(colors, plotColors[byName[s.Contender]%len(plotColors)])
		dashes = append(dashes, plotDashes[byRate[s.Rate]%len(plotDashes)])
	}
	return colors, dashes
}

// WriteCDFPlot writes the creation→bound latency CDF of every sample as
// one SVG: latency on a log10 x axis (ms), the fraction of pods bound
// within it on the y axis, one curve per sample, named by contender and
// load in the legend.
func WriteCDFPlot(w io.Writer, title string, ss []Sample) error {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, d := range s.Latencies {
			v := math.Max(ms(d), 0.001)
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	d0, d1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if d1 <= d0 {
		d1 = d0 + 1
	}
	iw, ih := float64(plotW-plotLeft-plotRight), float64(plotH-plotTop-plotBottom)
	x := func(v float64) float64 {
		return plotLeft + (math.Log10(math.Max(v, 0.001))-d0)/(d1-d0)*iw
	}
	y := func(f float64) float64 { return plotTop + (1-f)*ih }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", plotW, plotH, plotW, plotH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotW, plotH)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">%s</text>`+"\n", plotLeft, html.EscapeString(title))
	// Axes, decade grid and labels.
	for dec := d0; dec <= d1; dec++ {
		gx := x(math.Pow(10, dec))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", gx, plotTop, gx, y(0))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", gx, y(0)+16, formatMs(math.Pow(10, dec)))
	}
	for _, f := range []float64{0, 0.25, 0.5, 0.75, 0.9, 0.99, 1} {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", plotLeft, y(f), x(math.Pow(10, d1)), y(f))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%g</text>`+"\n", plotLeft-6, y(f)+4, f)
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", plotLeft, y(0), x(math.Pow(10, d1)), y(0))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%.1f" stroke="black"/>`+"\n", plotLeft, plotTop, plotLeft, y(0))
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">creation → bound latency (log scale)</text>`+"\n", plotLeft+iw/2, plotH-12)
	fmt.Fprintf(&b, `<text x="14" y="%.1f" transform="rotate(-90 14 %.1f)" text-anchor="middle">fraction of pods bound</text>`+"\n", plotTop+ih/2, plotTop+ih/2)
	// One curve per sample.
	colors, dashes := curveStyles(ss)
	for i, s := range ss {
		color, dash := colors[i], ""
		if dashes[i] != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, dashes[i])
		}
		sorted := slices.Clone(s.Latencies)
		slices.Sort(sorted)
		var pts []string
		for _, p := range cdfPoints(sorted, plotPointsPerCurve) {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(ms(p.latency)), y(p.fraction)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"><title>%s</title></polyline>`+"\n",
			color, dash, strings.Join(pts, " "), html.EscapeString(curveName(s)))
		ly := float64(plotTop + 10 + 18*i)
		lx := float64(plotW - plotRight + 16)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"%s/>`+"\n", lx, ly, lx+20, ly, color, dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+26, ly+4, html.EscapeString(curveName(s)))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func curveName(s Sample) string {
	if s.Rate == 0 {
		return s.Contender
	}
	return fmt.Sprintf("%s @ %g/s", s.Contender, s.Rate)
}

type cdfPoint struct {
	latency  time.Duration
	fraction float64
}

// cdfPoints samples the empirical CDF of sorted at about n points (every
// value when there are fewer), always ending at the largest with 1.
func cdfPoints(sorted []time.Duration, n int) []cdfPoint {
	if len(sorted) == 0 {
		return nil
	}
	step := max(1, len(sorted)/n)
	var out []cdfPoint
	for i := step - 1; i < len(sorted); i += step {
		out = append(out, cdfPoint{sorted[i], float64(i+1) / float64(len(sorted))})
	}
	if last := out[len(out)-1]; last.fraction != 1 {
		out = append(out, cdfPoint{sorted[len(sorted)-1], 1})
	}
	return out
}

func formatMs(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%gs", v/1000)
	default:
		return fmt.Sprintf("%gms", v)
	}
}
