package report

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRenderMarkdownGolden(t *testing.T) {
	r := renderWithLoad(renderRehearsal(t))
	out := renderString(t, RenderMarkdown, r)
	renderGolden(t, "rehearsal.md", []byte(out))
	assert.Equal(t, out, renderString(t, RenderMarkdown, r))
	mdCheckTables(t, out)
}

func TestRenderMarkdownContent(t *testing.T) {
	r := renderRehearsal(t)
	out := renderString(t, RenderMarkdown, r)
	mdCheckTables(t, out)

	assert.True(t, strings.HasPrefix(out, "## Rehearsal verdict: **FAIL**\n"), out)
	assert.NotContains(t, out, ":x:")
	for _, reason := range r.Reasons {
		assert.Contains(t, out, "\n- "+mdText(reason)+"\n")
	}
	assert.Contains(t, out, "### upgrade vs baseline: **FAIL**")
	assert.Contains(t, out, "### after vs baseline: **PASS**")
	assert.Contains(t, out, "| Rule | Outcome | Value | Threshold | Message |")
	assert.Regexp(t, `\n\| outage \| fail \| 2\.\d+ s \| 1 s \| longest outage`, out)
	assert.Regexp(t, `\n\| error-rate \| fail \| \+\d\.\d+ pts \| 0\.1 pts \| `, out)

	up := r.Runs[0].Phase("upgrade")
	require.NotNil(t, up)
	row := mdRow(t, out, "**upgrade**")
	assert.Equal(t, []string{"**upgrade**", fmt.Sprint(up.Requests), txtNum(up.Rate), txtPercent(up.SuccessRatio, up.Failures),
		fmt.Sprint(up.Failures), txtClasses(up.Classes), txtNum(up.Latency.P50Ms), txtNum(up.Latency.P90Ms), txtNum(up.Latency.P99Ms),
		txtNum(up.Latency.P999Ms), txtNum(up.Latency.MaxMs), fmt.Sprint(up.Outages.Count), txtNum(up.Outages.LongestSeconds)}, row)
	fresh := mdRow(t, out, "upgrade / fresh")
	assert.Equal(t, "", fresh[5], "probes have no class breakdown")

	// The longest outage comes first; the errors table is led by the
	// refused connections.
	outages := out[strings.Index(out, "### Outages"):]
	first := strings.SplitN(outages, "\n- ", 3)[1]
	assert.Contains(t, first, "in upgrade / fresh from 10:00:40.020")
	assert.Contains(t, out, "| upgrade | 62 | Get \"http://canary.example/a\": dial tcp 10.96.0.10:80: connect: connection refused |")
	assert.Contains(t, out, "| upgrade | 15 | 503 Service Unavailable |")

	assert.NotContains(t, out, "### Load")
	assert.NotContains(t, out, "Warning")
}

func TestRenderMarkdownLoadAndTruncation(t *testing.T) {
	out := renderString(t, RenderMarkdown, renderWithLoad(renderRehearsal(t)))
	mdCheckTables(t, out)
	assert.Contains(t, out, "\n> **Warning:** results file runs/rehearsal-1/results.bin was cut short: 37 trailing bytes")
	assert.Contains(t, out, "### Load")
	assert.Equal(t, []string{"total", "50.0", "50.0", "4500", "4497", "3", "12", "23.4"}, mdRow(t, out, "total"))
	assert.Equal(t, []string{"total / fresh", "25.0", "25.0", "2250", "2247", "3", "8", "23.4"}, mdRow(t, out, "total / fresh"))
}

func TestRenderMarkdownEscapes(t *testing.T) {
	r := renderSmall(t)
	r.Title = "a|b"
	r.Reasons = append(r.Reasons, `pipe | and <b>html</b> & back\slash`)
	c := &r.Comparisons[0]
	c.Rules[0].Message = "x | y\nz"
	c.Rules[1].Message = `ends in a backslash \`
	p := r.Runs[0].Phase("upgrade")
	p.Errors = append(p.Errors, ErrorCount{Error: "bad | worse", Count: 3})
	p.Outages.Windows = append(p.Outages.Windows, Outage{Phase: "upgrade", Probe: "re|use", Start: renderStart, End: renderStart.Add(time.Second), Seconds: 1, Failures: 2})

	out := renderString(t, RenderMarkdown, r)
	mdCheckTables(t, out)
	assert.Contains(t, out, `a\|b`)
	assert.Contains(t, out, `- pipe \| and &lt;b&gt;html&lt;/b&gt; &amp; back\\slash`)
	assert.Contains(t, out, `| x \| y z |`)
	assert.Contains(t, out, `| ends in a backslash \\ |`)
	assert.Contains(t, out, `| upgrade | 3 | bad \| worse |`)
	assert.Contains(t, out, `in upgrade / re\|use`)
}

func TestRenderMarkdownLimits(t *testing.T) {
	r := renderSmall(t)
	p := r.Runs[0].Phase("upgrade")
	p.Errors = nil
	p.Outages.Windows = nil
	for i := range 15 {
		p.Errors = append(p.Errors, ErrorCount{Error: fmt.Sprintf("error %02d", i), Count: int64(100 - i)})
		start := renderStart.Add(time.Duration(i) * time.Minute)
		secs := float64(i%5) + float64(i)/100
		p.Outages.Windows = append(p.Outages.Windows, Outage{Phase: "upgrade", Probe: "fresh", Start: start,
			End: start.Add(time.Duration(secs * float64(time.Second))), Seconds: secs, Failures: int64(i + 1)})
	}
	p.Outages.Count = 15
	out := renderString(t, RenderMarkdown, r)
	mdCheckTables(t, out)

	assert.Contains(t, out, "The 10 longest of 15:")
	outages := out[strings.Index(out, "### Outages"):strings.Index(out, "### Errors")]
	assert.Equal(t, 10, strings.Count(outages, "\n- "))
	assert.Contains(t, outages, "\n- **4.14 s**")
	assert.NotContains(t, outages, "**0")
	assert.Less(t, strings.Index(outages, "**4.14 s**"), strings.Index(outages, "**4.09 s**"))

	errs := out[strings.Index(out, "### Errors"):]
	assert.Contains(t, errs, "| upgrade | 100 | error 00 |")
	assert.Contains(t, errs, "| upgrade | 91 | error 09 |")
	assert.NotContains(t, errs, "error 10")
}

func TestRenderMarkdownEmpty(t *testing.T) {
	m := renderMetrics(renderPhaseSpec{name: "baseline", seconds: 2, rate: 5, median: time.Millisecond})
	r, err := JudgeRun(m, "baseline", Rules{})
	require.NoError(t, err)
	out := renderString(t, RenderMarkdown, r)
	mdCheckTables(t, out)
	assert.True(t, strings.HasPrefix(out, "## Rehearsal verdict: **INCONCLUSIVE**\n"), out)
	assert.Contains(t, out, "- nothing to compare")
	assert.Contains(t, out, "### Phases")

	out = renderString(t, RenderMarkdown, &Report{})
	mdCheckTables(t, out)
	assert.NotContains(t, out, "### Phases")
}

func TestRenderMarkdownTwoRecordings(t *testing.T) {
	a := renderMetrics(renderPhaseSpec{name: "all", seconds: 30, rate: 25, median: 8 * time.Millisecond})
	b := renderMetrics(renderPhaseSpec{name: "all", from: time.Hour, seconds: 20, rate: 25, median: 8 * time.Millisecond})
	a.Source, b.Source = "runs/before", "runs/after"
	r, err := Compare(a, b, Rules{})
	require.NoError(t, err)
	out := renderString(t, RenderMarkdown, r)
	mdCheckTables(t, out)
	assert.Contains(t, out, "| Recording | Phase |")
	assert.Equal(t, "runs/after", mdRow(t, out, "runs/after")[0])
	assert.Equal(t, "**all**", mdRow(t, out, "runs/after")[1])
}

// mdCells splits a table row into its cells the way GitHub does: a
// backslash escapes the next character, an unescaped pipe separates cells.
func mdCells(line string) []string {
	line = strings.TrimSpace(line)
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			cur.WriteByte(line[i])
			if i+1 < len(line) {
				i++
				cur.WriteByte(line[i])
			}
		case '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	cells = append(cells, strings.TrimSpace(cur.String()))
	// A row starts and ends with a pipe: drop the empty outer pieces.
	if len(cells) >= 2 && cells[0] == "" && cells[len(cells)-1] == "" {
		cells = cells[1 : len(cells)-1]
	}
	return cells
}

// mdCheckTables checks that every table has a header, a delimiter row and
// rows with as many cells as the header, and that no table row leaks out of
// a table.
func mdCheckTables(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "|") {
			continue
		}
		if i > 0 {
			require.Equal(t, "", lines[i-1], "a table follows a blank line (line %d)", i+1)
		}
		head := mdCells(lines[i])
		require.Less(t, i+1, len(lines))
		delim := mdCells(lines[i+1])
		require.Len(t, delim, len(head), "delimiter row of the table at line %d: %q", i+1, lines[i+1])
		for _, d := range delim {
			require.Regexp(t, `^:?-+:?$`, d, "delimiter cell at line %d", i+2)
		}
		j := i + 2
		for ; j < len(lines) && strings.HasPrefix(lines[j], "|"); j++ {
			require.Len(t, mdCells(lines[j]), len(head), "row at line %d: %q", j+1, lines[j])
			require.True(t, strings.HasSuffix(lines[j], " |"), "row at line %d ends with a pipe", j+1)
		}
		i = j
	}
}

// mdRow returns the cells of the first table row whose first cell is first.
func mdRow(t *testing.T, out, first string) []string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "| ") {
			if cells := mdCells(l); len(cells) > 0 && cells[0] == first {
				return cells
			}
		}
	}
	t.Fatalf("no table row starting with %q in:\n%s", first, out)
	return nil
}
