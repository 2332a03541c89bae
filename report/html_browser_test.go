package report_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

const (
	chromiumPath = "/usr/bin/chromium"
	// screenshotCopy and pageCopy are where the screenshot and the page are
	// also left for people to look at.
	screenshotCopy = "/tmp/rehearse-report-screenshot.png"
	pageCopy       = "/tmp/rehearse-report.html"
)

// Colours the HTML report draws its plots in (see html_plots.go).
var (
	p99Colour     = color.RGBA{0xD6, 0x33, 0x6C, 0xFF}
	p50Colour     = color.RGBA{0x1F, 0x3A, 0x93, 0xFF}
	failureColour = color.RGBA{0xE0, 0x31, 0x31, 0xFF}
	// The first three phase colours: baseline, upgrade, after.
	phaseColours = []color.RGBA{{0x4C, 0x78, 0xA8, 0xFF}, {0xF5, 0x85, 0x18, 0xFF}, {0x54, 0xA2, 0x4B, 0xFF}}
)

// chromium runs headless Chromium on the page with extra flags and returns
// its standard output.
func chromium(t *testing.T, page string, flags ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,2400",
	}, flags...)
	args = append(args, "file://"+page)
	cmd := exec.CommandContext(ctx, chromiumPath, args...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("chromium did not finish within 60 s; stderr:\n%s", stderr.String())
	}
	if err != nil {
		t.Fatalf("chromium %s: %v; stderr:\n%s", strings.Join(flags, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if testing.Short() {
			t.Skipf("skipping the browser test in -short mode: %s not found (%v)", chromiumPath, err)
		}
		t.Fatalf("the browser test needs Chromium at %s (%v): run `apt-get install chromium`", chromiumPath, err)
	}
}

func near(c color.Color, want color.RGBA, tol int) bool {
	r, g, b, _ := c.RGBA()
	d := func(a uint32, w uint8) bool {
		x := int(a>>8) - int(w)
		return x >= -tol && x <= tol
	}
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

func countNear(img image.Image, want color.RGBA, tol int) int {
	n := 0
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			if near(img.At(x, y), want, tol) {
				n++
			}
		}
	}
	return n
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestHTMLBrowser renders the report in headless Chromium and checks, on the
// screenshot, that the plots are drawn, and on the DOM Chromium built, that
// the inline SVG survived parsing.
func TestHTMLBrowser(t *testing.T) {
	needChromium(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, []byte(renderHTML(t, rehearsalReport(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(pageCopy, page); err == nil {
		t.Logf("page copied to %s", pageCopy)
	}

	t.Run("screenshot", func(t *testing.T) {
		shot := filepath.Join(dir, "screenshot.png")
		chromium(t, page, "--screenshot="+shot)
		t.Logf("screenshot: %s", shot)
		if err := copyFile(screenshotCopy, shot); err != nil {
			t.Logf("could not copy the screenshot to %s: %v", screenshotCopy, err)
		} else {
			t.Logf("screenshot copied to %s", screenshotCopy)
		}
		f, err := os.Open(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v", err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("screenshot is not a PNG: %v", err)
		}
		bd := img.Bounds()
		if bd.Dx() != 1280 || bd.Dy() != 2400 {
			t.Errorf("screenshot is %dx%d, want 1280x2400", bd.Dx(), bd.Dy())
		}
		total := bd.Dx() * bd.Dy()
		white := countNear(img, color.RGBA{0xFF, 0xFF, 0xFF, 0xFF}, 3)
		if inked := total - white; inked < total/20 {
			t.Errorf("screenshot is almost blank: %d of %d pixels are not white", inked, total)
		}
		// Plot lines and bars, in their own colours. The line colours are
		// opaque so their centre pixels keep the colour closely.
		for _, c := range []struct {
			name string
			rgba color.RGBA
			min  int
		}{
			{"p99 line", p99Colour, 1500},
			{"p50 line", p50Colour, 500},
			{"failure bars", failureColour, 500},
			{"baseline distribution line", phaseColours[0], 400},
			{"upgrade distribution line", phaseColours[1], 400},
			{"after distribution line", phaseColours[2], 400},
		} {
			n := countNear(img, c.rgba, 16)
			t.Logf("%s: %d pixels near #%02X%02X%02X", c.name, n, c.rgba.R, c.rgba.G, c.rgba.B)
			if n < c.min {
				t.Errorf("%s: %d pixels in its colour, want at least %d: is the plot drawn?", c.name, n, c.min)
			}
		}
	})

	t.Run("dom", func(t *testing.T) {
		out := chromium(t, page, "--dump-dom")
		doc, err := html.Parse(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("dumped DOM does not parse: %v", err)
		}
		plots := plotsOf(doc)
		for _, name := range []string{"latency", "percentiles", "errors"} {
			if len(plots[name]) != 1 {
				t.Errorf("DOM has %d plots named %q, want 1", len(plots[name]), name)
				continue
			}
			p := plots[name][0]
			if n := countElements(p, "svg"); n != 1 {
				t.Errorf("DOM plot %q holds %d <svg>", name, n)
			}
			if n := countElements(p, "path"); n < 20 {
				t.Errorf("DOM plot %q holds %d <path>", name, n)
			}
			if n := countElements(p, "text"); n < 8 {
				t.Errorf("DOM plot %q holds %d <text>", name, n)
			}
		}
		if !strings.Contains(string(out), "FAIL") {
			t.Errorf("verdict missing from the DOM")
		}
	})
}

// readingShotCopy is where the screenshot of the rehearsal read at a
// glance is also left for people to look at.
const readingShotCopy = "/tmp/rehearse-report-reading.png"

// Colours of what a person reads at a glance (see html_plots.go).
var (
	stepColour  = color.RGBA{0xD0, 0xDB, 0xE8, 0xFF}
	limitColour = color.RGBA{0x86, 0x1E, 0x3E, 0xFF}
)

// TestHTMLBrowserReading loads the rehearsal of readingReport (steps,
// incidents, a failed checklist item, a few failures) in headless Chromium,
// takes a screenshot of the whole page and checks that the failure-ratio
// panel, the labelled steps, the percentile plot with its p99 limit, the
// checklist and the incidents are drawn and in the DOM Chromium built.
func TestHTMLBrowserReading(t *testing.T) {
	needChromium(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, []byte(renderHTML(t, readingReport(t))), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("screenshot", func(t *testing.T) {
		shot := filepath.Join(dir, "reading.png")
		chromium(t, page, "--screenshot="+shot, "--window-size=1280,5200", "--hide-scrollbars")
		t.Logf("screenshot: %s", shot)
		if err := copyFile(readingShotCopy, shot); err == nil {
			t.Logf("screenshot copied to %s", readingShotCopy)
		}
		f, err := os.Open(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v", err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("screenshot is not a PNG: %v", err)
		}
		for _, c := range []struct {
			name string
			rgba color.RGBA
			tol  int
			min  int
		}{
			{"step bars", stepColour, 3, 2000},
			{"limit lines", limitColour, 16, 150},
			{"failure bars", failureColour, 16, 800},
		} {
			n := countNear(img, c.rgba, c.tol)
			t.Logf("%s: %d pixels near #%02X%02X%02X", c.name, n, c.rgba.R, c.rgba.G, c.rgba.B)
			if n < c.min {
				t.Errorf("%s: %d pixels in its colour, want at least %d: is it drawn?", c.name, n, c.min)
			}
		}
	})

	t.Run("dom", func(t *testing.T) {
		doc, err := html.Parse(bytes.NewReader(chromium(t, page, "--dump-dom")))
		if err != nil {
			t.Fatalf("dumped DOM does not parse: %v", err)
		}
		checkReadingPage(t, doc)
	})
}
