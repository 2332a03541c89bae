package ledger

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

// RuleLostWrites names the check that every acknowledged write is read back.
const RuleLostWrites = "lost-writes"

// Write is one write of the ledger's stream, from the results file.
type Write struct {
	Seq   uint64
	Phase string
	Sent  time.Time
	// Acked is when the store acknowledged it; zero if it did not.
	Acked time.Time
}

// PhaseCount counts one phase's writes.
type PhaseCount struct {
	Phase string
	Sent  int
	Acked int
}

// Summary is what the ledger's writes and read-backs show.
type Summary struct {
	Phases    []PhaseCount
	Sent      int
	Acked     int
	ReadBacks []ReadBack
	// Lost are the acknowledged writes some read-back did not find, by
	// sequence number, with the first read-back that missed each.
	Lost map[uint64]int
	// Disorder counts writes whose revision is below that of a write
	// acknowledged before they were sent: the store's order broken.
	Disorder int
	// DisorderExample names one such pair.
	DisorderExample string
	// Applied counts writes not acknowledged but found (a write that
	// timed out may still be applied).
	Applied int
}

// Writes collects the ledger stream's writes from results, in any order.
func Writes(results []*vegeta.Result) []Write {
	var out []Write
	for _, r := range results {
		if w, ok := writeOf(r); ok {
			out = append(out, w)
		}
	}
	return out
}

// writeOf is the write a result of the ledger's stream was for; ok is false
// for a result of another stream.
func writeOf(r *vegeta.Result) (Write, bool) {
	phase, probe := loadgen.SplitAttack(r.Attack)
	if probe != loadgen.TargetProbe(scenarios.LedgerTarget) {
		return Write{}, false
	}
	seq, ok := SeqOfResult(r)
	if !ok {
		return Write{}, false
	}
	w := Write{Seq: seq, Phase: phase, Sent: r.Timestamp}
	if r.Code == 200 && r.Error == "" {
		w.Acked = r.Timestamp.Add(r.Latency)
	}
	return w, true
}

// Judge compares the writes with the read-backs. A read-back that
// succeeded must hold every write acknowledged before it started; the last
// read-back (after the load ended) must have succeeded.
func Judge(writes []Write, rbs []ReadBack) Summary {
	s := Summary{ReadBacks: rbs, Lost: map[uint64]int{}}
	phaseIndex := map[string]int{}
	sort.Slice(writes, func(i, j int) bool { return writes[i].Sent.Before(writes[j].Sent) })
	for _, w := range writes {
		i, ok := phaseIndex[w.Phase]
		if !ok {
			i = len(s.Phases)
			phaseIndex[w.Phase] = i
			s.Phases = append(s.Phases, PhaseCount{Phase: w.Phase})
		}
		s.Phases[i].Sent++
		s.Sent++
		if !w.Acked.IsZero() {
			s.Phases[i].Acked++
			s.Acked++
		}
	}
	var last map[uint64]int64
	for i, rb := range rbs {
		if rb.Error != "" {
			continue
		}
		found := make(map[uint64]int64, len(rb.Keys))
		for _, k := range rb.Keys {
			found[uint64(k[0])] = k[1]
		}
		for _, w := range writes {
			if w.Acked.IsZero() || !w.Acked.Before(rb.Started) {
				continue
			}
			if _, ok := found[w.Seq]; !ok {
				if _, seen := s.Lost[w.Seq]; !seen {
					s.Lost[w.Seq] = i
				}
			}
		}
		last = found
	}
	if last != nil {
		for _, w := range writes {
			if _, ok := last[w.Seq]; ok && w.Acked.IsZero() {
				s.Applied++
			}
		}
		s.Disorder, s.DisorderExample = disorder(writes, last)
	}
	return s
}

// disorder counts writes whose create revision is not above that of every
// write acknowledged before they were sent (etcd's writes are
// linearizable: one acknowledged before another began is ordered before it).
func disorder(writes []Write, revs map[uint64]int64) (int, string) {
	acked := make([]Write, 0, len(writes))
	for _, w := range writes {
		if _, ok := revs[w.Seq]; ok && !w.Acked.IsZero() {
			acked = append(acked, w)
		}
	}
	bySent := append([]Write(nil), acked...)
	sort.Slice(bySent, func(i, j int) bool { return bySent[i].Sent.Before(bySent[j].Sent) })
	sort.Slice(acked, func(i, j int) bool { return acked[i].Acked.Before(acked[j].Acked) })
	n, example := 0, ""
	var maxRev int64
	var maxSeq uint64
	j := 0
	for _, b := range bySent {
		for j < len(acked) && acked[j].Acked.Before(b.Sent) {
			if r := revs[acked[j].Seq]; r > maxRev {
				maxRev, maxSeq = r, acked[j].Seq
			}
			j++
		}
		if rev := revs[b.Seq]; maxRev > 0 && rev <= maxRev {
			n++
			if example == "" {
				example = fmt.Sprintf("%s (revision %d) was sent after %s (revision %d) was acknowledged", Key(b.Seq), rev, Key(maxSeq), maxRev)
			}
		}
	}
	return n, example
}

// Final is the last read-back, the one after the load ended, if any.
func (s Summary) Final() (ReadBack, bool) {
	for i := len(s.ReadBacks) - 1; i >= 0; i-- {
		if s.ReadBacks[i].After == AfterEnd {
			return s.ReadBacks[i], true
		}
	}
	return ReadBack{}, false
}

// AfterEnd marks the read-back after the load ended.
const AfterEnd = "end"

// Check turns the summary into the lost-writes check: any acknowledged
// write missing, order broken, or no final read-back fails it.
func (s Summary) Check() report.Check {
	c := report.Check{Name: RuleLostWrites, Outcome: report.Pass}
	var phases []string
	for _, p := range s.Phases {
		phases = append(phases, fmt.Sprintf("%s %d of %d", p.Phase, p.Acked, p.Sent))
	}
	counts := fmt.Sprintf("%d of %d writes acknowledged (%s)", s.Acked, s.Sent, strings.Join(phases, ", "))
	good := 0
	for _, rb := range s.ReadBacks {
		if rb.Error == "" {
			good++
		}
	}
	final, ok := s.Final()
	switch {
	case len(s.Lost) > 0:
		seqs := make([]uint64, 0, len(s.Lost))
		for q := range s.Lost {
			seqs = append(seqs, q)
		}
		sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
		first := seqs[0]
		rb := s.ReadBacks[s.Lost[first]]
		c.Outcome = report.Fail
		c.Message = fmt.Sprintf("%d acknowledged writes lost: %s first missing in the read-back after %s (%d keys found); %s", len(seqs), Key(first), rb.After, rb.Count, counts)
	case s.Sent == 0:
		c.Outcome = report.Inconclusive
		c.Message = "no write was sent"
	case !ok:
		c.Outcome = report.Inconclusive
		c.Message = "no read-back after the load ended (interrupted?); " + counts
	case final.Error != "":
		c.Outcome = report.Fail
		c.Message = fmt.Sprintf("the acknowledged writes could not be read back after the load ended: %s; %s", final.Error, counts)
	case s.Disorder > 0:
		c.Outcome = report.Fail
		c.Message = fmt.Sprintf("%d writes out of order: %s; %s", s.Disorder, s.DisorderExample, counts)
	default:
		c.Message = fmt.Sprintf("%s; every acknowledged write read back at each of %d read-backs (%d keys at the end), order kept", counts, good, final.Count)
		if s.Applied > 0 {
			c.Message += fmt.Sprintf("; %d unacknowledged writes were applied", s.Applied)
		}
	}
	return c
}

// JudgeDir judges a run folder's ledger: its results file's writes against
// its read-backs file.
func JudgeDir(dir string) (Summary, error) {
	var writes []Write
	if _, err := loadgen.ReadResults(dir, func(r *vegeta.Result) error {
		if w, ok := writeOf(r); ok {
			writes = append(writes, w)
		}
		return nil
	}); err != nil {
		return Summary{}, err
	}
	rbs, err := ReadReadBacks(filepath.Join(dir, ReadBacksFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Summary{}, err
	}
	return Judge(writes, rbs), nil
}
