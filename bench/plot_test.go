package bench

import (
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCDFPoints(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 1000; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	pts := cdfPoints(ds, 100)
	if len(pts) != 100 {
		t.Fatalf("%d points, want 100", len(pts))
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].latency < pts[i-1].latency || pts[i].fraction <= pts[i-1].fraction {
			t.Fatalf("CDF not increasing at %d: %+v then %+v", i, pts[i-1], pts[i])
		}
	}
	if last := pts[len(pts)-1]; last.fraction != 1 || last.latency != time.Second {
		t.Errorf("last point %+v, want (1s, 1)", last)
	}
	if p := cdfPoints(ds[:3], 100); len(p) != 3 || p[0].fraction != 1.0/3 {
		t.Errorf("three values: %+v", p)
	}
	if p := cdfPoints(ds[:7], 3); p[len(p)-1].fraction != 1 {
		t.Errorf("uneven step does not end at 1: %+v", p)
	}
	if cdfPoints(nil, 10) != nil {
		t.Error("points of nothing")
	}
}

// The plot is well-formed SVG with one curve per sample, named in the
// legend, whose points stay inside the plot and rise left to right.
func TestWriteCDFPlot(t *testing.T) {
	mk := func(base time.Duration) []time.Duration {
		var ds []time.Duration
		for i := 1; i <= 500; i++ {
			ds = append(ds, base+time.Duration(i)*time.Millisecond)
		}
		return ds
	}
	ss := []Sample{{Contender: "null", Latencies: mk(10 * time.Millisecond)}, {Contender: "kubemesos", Rate: 50, Latencies: mk(time.Second)}}
	var b strings.Builder
	if err := WriteCDFPlot(&b, "a <title>", ss); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(strings.NewReader(b.String()))
	var curves [][]string
	var texts []string
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, b.String())
		}
		switch e := tok.(type) {
		case xml.StartElement:
			inText = e.Name.Local == "text"
			if e.Name.Local == "polyline" {
				for _, a := range e.Attr {
					if a.Name.Local == "points" {
						curves = append(curves, strings.Fields(a.Value))
					}
				}
			}
		case xml.CharData:
			if inText {
				texts = append(texts, string(e))
			}
		case xml.EndElement:
			inText = false
		}
	}
	if len(curves) != 2 {
		t.Fatalf("%d curves, want 2", len(curves))
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"a <title>", "null", "kubemesos @ 50/s", "fraction of pods bound"} {
		if !strings.Contains(all, want) {
			t.Errorf("no text %q in %q", want, all)
		}
	}
	for ci, c := range curves {
		px, py := -1.0, 1e9
		for _, p := range c {
			xs, ys, _ := strings.Cut(p, ",")
			x, _ := strconv.ParseFloat(xs, 64)
			y, _ := strconv.ParseFloat(ys, 64)
			if x < plotLeft || x > plotW-plotRight+0.1 || y < plotTop-0.1 || y > plotH-plotBottom {
				t.Fatalf("curve %d point %s outside the plot", ci, p)
			}
			if x < px || y > py {
				t.Fatalf("curve %d does not rise: %s after (%v,%v)", ci, p, px, py)
			}
			px, py = x, y
		}
	}
	// The slower contender's curve starts to the right of the faster's.
	firstX := func(c []string) float64 {
		xs, _, _ := strings.Cut(c[0], ",")
		x, _ := strconv.ParseFloat(xs, 64)
		return x
	}
	if firstX(curves[1]) <= firstX(curves[0]) {
		t.Errorf("kubemesos' curve starts at %s, null's at %s", curves[1][0], curves[0][0])
	}
}

func TestCurveStyles(t *testing.T) {
	var ss []Sample
	for _, rate := range []float64{0, 50, 100} {
		for _, c := range []string{"null", "kube-scheduler", "kubemesos"} {
			ss = append(ss, Sample{Contender: c, Rate: rate})
		}
	}
	colors, dashes := curveStyles(ss)
	seen := map[[2]string]bool{}
	for i, s := range ss {
		if colors[i] != colors[i%3] {
			t.Errorf("%s @ %v: colour %s, want its contender's %s", s.Contender, s.Rate, colors[i], colors[i%3])
		}
		if dashes[i] != dashes[i/3*3] {
			t.Errorf("%s @ %v: dash %q, want its rate's %q", s.Contender, s.Rate, dashes[i], dashes[i/3*3])
		}
		k := [2]string{colors[i], dashes[i]}
		if seen[k] {
			t.Errorf("two curves drawn alike: %v", k)
		}
		seen[k] = true
	}
}
