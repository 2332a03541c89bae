package generators

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// A generator keeps every line it writes (each result, then its
// accounting) in a spool file on its pod's emptyDir, and serves the file by
// byte offset over HTTP on ResultsPort. The runner reads it through the
// API's pod proxy: what it gets does not depend on the kubelet's container
// logs, which a kubelet rotates (at 10Mi by default) and serves only the
// newest file of, so results written while a log stream was cut could be
// gone when it resumed. The file survives the container's restarts (the
// next container appends to it), not the pod.
const (
	// ResultsPort is the port a generator serves its spool on.
	ResultsPort = 9090
	// ResultsPath is the path it serves it at: GET ResultsPath?from=N
	// returns the complete lines from byte N on.
	ResultsPath = "/results"
	// SpoolDir is where the spool's emptyDir is mounted in the pod.
	SpoolDir = "/spool"
	// SpoolFile is the spool in the pod.
	SpoolFile = SpoolDir + "/results"
	// Linger is how long a generator that has written its accounting
	// keeps serving its spool, waiting for it to be read to the end.
	Linger = 30 * time.Second
	// spoolChunk bounds one answer.
	spoolChunk = 4 << 20
	// HeaderEnded is set ("true") on an answer that reaches the end of a
	// spool whose generator has written its accounting.
	HeaderEnded = "X-Rehearse-Ended"
)

// Spool is a generator's spool file and its server.
type Spool struct {
	mu    sync.Mutex
	f     *os.File
	size  int64
	part  []byte // the start of a line not yet ended
	ended bool
	read  chan struct{} // closed once the end has been served
	now   func() time.Time
}

// OpenSpool opens (or, after a restart of the container, reopens) the
// spool at path, owner-only.
func OpenSpool(path string) (*Spool, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &Spool{f: f, size: st.Size(), read: make(chan struct{}), now: time.Now}, nil
}

// Write appends p's complete lines to the spool, each prefixed with the
// instant it was written ("TIME LINE", as the kubelet stamps a log), so
// the merge knows when each became readable. A line's start waits for its
// end.
func (s *Spool) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.write(p)
}

// WriteEnd appends the generator's accounting, its last line: a read that
// reaches the end from then on tells the generator it may exit.
func (s *Spool) WriteEnd(p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.write(p); err != nil {
		return err
	}
	s.ended = true
	return nil
}

func (s *Spool) write(p []byte) (int, error) {
	n := len(p)
	data := append(s.part, p...)
	last := bytes.LastIndexByte(data, '\n')
	if last < 0 {
		s.part = data
		return n, nil
	}
	stamp := []byte(s.now().UTC().Format(time.RFC3339Nano) + " ")
	var b bytes.Buffer
	for _, l := range bytes.SplitAfter(data[:last+1], []byte{'\n'}) {
		if len(l) > 0 {
			b.Write(stamp)
			b.Write(l)
		}
	}
	s.part = append([]byte(nil), data[last+1:]...)
	if _, err := s.f.Write(b.Bytes()); err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	s.size += int64(b.Len())
	return n, nil
}

// Read returns the complete lines of the spool from byte from on (at most
// about spoolChunk), and whether they reach the end of a spool whose
// generator has ended.
func (s *Spool) Read(from int64) ([]byte, bool, error) {
	s.mu.Lock()
	size, ended := s.size, s.ended
	s.mu.Unlock()
	if from < 0 || from > size {
		return nil, false, fmt.Errorf("from %d is outside the spool's %d bytes", from, size)
	}
	n := min(size-from, spoolChunk)
	b := make([]byte, n)
	if _, err := s.f.ReadAt(b, from); err != nil && err != io.EOF {
		return nil, false, err
	}
	if from+n < size {
		// A cut answer ends at its last complete line.
		i := bytes.LastIndexByte(b, '\n')
		if i < 0 {
			return nil, false, fmt.Errorf("a line longer than %d bytes at %d", spoolChunk, from)
		}
		return b[:i+1], false, nil
	}
	return b, ended, nil
}

// ServeHTTP answers GET ResultsPath?from=N.
func (s *Spool) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != ResultsPath {
		http.NotFound(w, r)
		return
	}
	from, err := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
	if err != nil {
		http.Error(w, "from: want a byte offset", http.StatusBadRequest)
		return
	}
	b, end, err := s.Read(from)
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestedRangeNotSatisfiable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set(HeaderEnded, strconv.FormatBool(end))
	if _, err := w.Write(b); err == nil && end {
		s.mu.Lock()
		select {
		case <-s.read:
		default:
			close(s.read)
		}
		s.mu.Unlock()
	}
}

// WaitRead waits until the spool has been served to its end, at most d.
func (s *Spool) WaitRead(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.read:
		return true
	default:
	}
	select {
	case <-s.read:
		return true
	case <-t.C:
		return false
	}
}

// Close closes the spool's file.
func (s *Spool) Close() error { return s.f.Close() }
