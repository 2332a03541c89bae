package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/rehearse/runfolder"
)

// ResultsFile is the name of the results file in a run folder.
const ResultsFile = runfolder.Results

// FlushInterval bounds how long recorded results sit in memory while results
// keep arriving (an open-loop attack delivers them continuously), and so how
// much a killed writer can lose; Close flushes the rest.
const FlushInterval = time.Second

// Recorder is a Sink that streams results to a writer in vegeta's gob
// encoding, the format `vegeta report` and `vegeta plot` read.
type Recorder struct {
	w      *bufio.Writer
	enc    vegeta.Encoder
	closer io.Closer
	last   time.Time
	count  int64
	err    error
}

// NewRecorder records to w. If w is an io.Closer, Close closes it.
func NewRecorder(w io.Writer) *Recorder {
	bw := bufio.NewWriterSize(w, 64<<10)
	r := &Recorder{w: bw, enc: vegeta.NewEncoder(bw), last: time.Now()}
	if c, ok := w.(io.Closer); ok {
		r.closer = c
	}
	return r
}

// NewJSONRecorder records to w in vegeta's JSON encoding, one result per
// line, flushed at least every FlushInterval: the stream an in-cluster
// generator writes to its standard output for rehearse to follow.
func NewJSONRecorder(w io.Writer) *Recorder {
	r := NewRecorder(w)
	r.enc = vegeta.NewJSONEncoder(r.w)
	return r
}

// StreamAccountingKey starts the last line of a generator's stream (see
// StreamEnd).
const StreamAccountingKey = `{"accounting":`

// StreamEnd is the last line a generator streaming its results writes
// (`rehearse load --out -`): its own accounting of what it sent.
type StreamEnd struct {
	Accounting Accounting `json:"accounting"`
}

// Flush writes what is buffered.
func (r *Recorder) Flush() error { return r.w.Flush() }

// TimedRecorder is a Recorder also flushed every interval by a clock, not
// only when results arrive: a reader following the stream (rehearse, of an
// in-cluster generator sending a few requests a second) gets each result
// within that interval however seldom they come.
type TimedRecorder struct {
	mu   sync.Mutex
	r    *Recorder
	stop chan struct{}
	done chan struct{}
	err  error
}

// FlushEvery starts flushing r every interval until Stop. Results must be
// added through the TimedRecorder from then on.
func (r *Recorder) FlushEvery(interval time.Duration) *TimedRecorder {
	t := &TimedRecorder{r: r, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tick.C:
			}
			t.mu.Lock()
			if err := r.Flush(); err != nil && t.err == nil {
				t.err = fmt.Errorf("record results: %w", err)
			}
			t.mu.Unlock()
		}
	}()
	return t
}

// Add records one result.
func (t *TimedRecorder) Add(res *vegeta.Result) {
	t.mu.Lock()
	t.r.Add(res)
	t.mu.Unlock()
}

// Stop ends the clock and flushes what is left; it returns the first
// error of a flush or a result.
func (t *TimedRecorder) Stop() error {
	close(t.stop)
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	return errors.Join(t.err, t.r.err, t.r.Flush())
}

// Modes of what a recorder creates: results can hold the values of an exec
// driver's environment and the output of its commands, so only the owner
// reads them.
const (
	ResultsDirMode  os.FileMode = 0o700
	ResultsFileMode os.FileMode = 0o600
)

// CreateRecorder creates path, which must not exist yet, and records to it.
// Missing folders are made with ResultsDirMode, the file with
// ResultsFileMode. An existing file is an error satisfying
// errors.Is(err, fs.ErrExist): results are never overwritten by accident
// (ReplaceRecorder overwrites on purpose).
func CreateRecorder(path string) (*Recorder, error) {
	return openRecorder(path, os.O_EXCL)
}

// ReplaceRecorder is CreateRecorder for a path whose existing file is to be
// overwritten: it is truncated and its mode set to ResultsFileMode.
func ReplaceRecorder(path string) (*Recorder, error) {
	return openRecorder(path, os.O_TRUNC)
}

func openRecorder(path string, flag int) (*Recorder, error) {
	if err := os.MkdirAll(filepath.Dir(path), ResultsDirMode); err != nil {
		return nil, fmt.Errorf("record results: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, ResultsFileMode)
	if err != nil {
		return nil, fmt.Errorf("record results: %w", err)
	}
	if err := f.Chmod(ResultsFileMode); err != nil {
		return nil, errors.Join(fmt.Errorf("record results: %w", err), f.Close())
	}
	return NewRecorder(f), nil
}

// Add encodes one result. The first error is kept and returned by Close.
func (r *Recorder) Add(res *vegeta.Result) {
	if r.err != nil {
		return
	}
	if err := r.enc.Encode(res); err != nil {
		r.err = fmt.Errorf("record result: %w", err)
		return
	}
	r.count++
	if now := time.Now(); now.Sub(r.last) >= FlushInterval {
		r.last = now
		if err := r.w.Flush(); err != nil {
			r.err = fmt.Errorf("record result: %w", err)
		}
	}
}

// Count is how many results were recorded.
func (r *Recorder) Count() int64 { return r.count }

// Close flushes and closes the underlying writer.
func (r *Recorder) Close() error {
	errs := []error{r.err, r.w.Flush()}
	if r.closer != nil {
		errs = append(errs, r.closer.Close())
	}
	return errors.Join(errs...)
}
