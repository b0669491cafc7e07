package sim

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Series is one line of a plot.
type Series struct {
	Name   string
	Points [][2]float64
}

// plotColors are distinguishable on white.
var plotColors = [...]string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// WritePlot draws series as an SVG line chart. logX draws x on a log2
// scale (peer counts).
func WritePlot(w io.Writer, title, xLabel, yLabel string, series []Series, logX bool) error {
	const W, H, left, right, top, bottom = 760.0, 440.0, 70.0, 230.0, 40.0, 50.0
	fx := func(x float64) float64 {
		if logX {
			return math.Log2(x)
		}
		return x
	}
	xmin, xmax, ymax := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range series {
		for _, p := range s.Points {
			xmin, xmax, ymax = math.Min(xmin, fx(p[0])), math.Max(xmax, fx(p[0])), math.Max(ymax, p[1])
		}
	}
	if math.IsInf(xmin, 0) || xmax == xmin {
		xmin, xmax = 0, 1
	}
	if !logX {
		xmin = 0
	}
	ymax = niceCeil(ymax)
	px := func(x float64) float64 { return left + (fx(x)-xmin)/(xmax-xmin)*(W-left-right) }
	py := func(y float64) float64 { return H - bottom - y/ymax*(H-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%.0f" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(title))
	for i := 0; i <= 5; i++ {
		y := ymax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n",
			left, W-right, py(y), py(y), left-6, py(y)+4, num(y))
	}
	var ticks []float64
	if logX {
		for _, s := range series {
			for _, p := range s.Points {
				if !slices.Contains(ticks, p[0]) {
					ticks = append(ticks, p[0])
				}
			}
		}
	} else {
		for i := 0; i <= 5; i++ {
			ticks = append(ticks, xmax*float64(i)/5)
		}
	}
	for _, x := range ticks {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n",
			px(x), px(x), top, H-bottom, px(x), H-bottom+16, num(x))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", (left+W-right)/2, H-12, esc(xLabel))
	fmt.Fprintf(&b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", (top+H-bottom)/2, esc(yLabel))
	for i, s := range series {
		color := plotColors[i%len(plotColors)]
		var pts []string
		for _, p := range s.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p[0]), py(p[1])))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		if logX {
			for _, p := range pts {
				xy := strings.Split(p, ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`, xy[0], xy[1], color)
			}
			b.WriteString("\n")
		}
		ly := top + 10 + float64(i)*18
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/><text x="%.1f" y="%.1f">%s</text>`+"\n",
			W-right+12, W-right+32, ly, ly, color, W-right+38, ly+4, esc(s.Name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// CDF is the cumulative distribution of a run's imports in milliseconds
// (at most 200 points).
func (s *Summary) CDF() Series {
	out := Series{Name: s.Name}
	n := len(s.arrivals)
	if n == 0 {
		return out
	}
	step := max(1, n/200)
	for i := 0; i < n; i += step {
		out.Points = append(out.Points, [2]float64{msf(s.arrivals[i]), float64(i+1) / float64(n)})
	}
	out.Points = append(out.Points, [2]float64{msf(s.arrivals[n-1]), 1})
	return out
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func num(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
