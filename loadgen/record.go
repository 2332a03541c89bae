package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// ResultsFile is the name of the results file in a run folder.
const ResultsFile = "results.bin"

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

// CreateRecorder creates (or truncates) path and records to it.
func CreateRecorder(path string) (*Recorder, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
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

// ReadInfo tells what reading a results file found.
type ReadInfo struct {
	Path    string `json:"path"`
	Format  string `json:"format"`
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
	// Dropped is the number of trailing bytes that did not hold a whole
	// record, as when the writer was killed mid-record.
	Dropped int64  `json:"dropped"`
	TailErr string `json:"tailError,omitempty"`
}

// ResolveResults returns the results file of path: path itself for a file,
// the results file inside it for a run folder.
func ResolveResults(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("results %s: %w", path, err)
	}
	if st.IsDir() {
		f := filepath.Join(path, ResultsFile)
		if _, err := os.Stat(f); err != nil {
			return "", fmt.Errorf("run folder %s holds no %s: %w", path, ResultsFile, err)
		}
		return f, nil
	}
	return path, nil
}

// ReadResults decodes every result of a results file (vegeta's gob, JSON or
// CSV encoding) or run folder and calls fn with each, in file order. The
// *Result is reused between calls. A file cut short mid-record yields what it
// holds, with Dropped saying how many bytes were left over. A missing, empty
// or unreadable file is an error naming the file.
func ReadResults(path string, fn func(*vegeta.Result) error) (ReadInfo, error) {
	file, err := ResolveResults(path)
	if err != nil {
		return ReadInfo{}, err
	}
	f, err := os.Open(file)
	if err != nil {
		return ReadInfo{}, fmt.Errorf("results %s: %w", file, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ReadInfo{}, fmt.Errorf("results %s: %w", file, err)
	}
	info := ReadInfo{Path: file, Bytes: st.Size()}
	if st.Size() == 0 {
		return info, fmt.Errorf("results %s: file is empty", file)
	}
	head := make([]byte, 1)
	if _, err := io.ReadFull(f, head); err != nil {
		return info, fmt.Errorf("results %s: %w", file, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return info, fmt.Errorf("results %s: %w", file, err)
	}
	var derr error
	switch {
	case head[0] == '{':
		info.Format = "json"
		derr = readLines(f, &info, vegeta.NewJSONDecoder, fn)
	case head[0] >= '0' && head[0] <= '9':
		info.Format = "csv"
		derr = readLines(f, &info, vegeta.NewCSVDecoder, fn)
	default:
		info.Format = "gob"
		derr = readGob(f, &info, fn)
	}
	if derr != nil {
		return info, fmt.Errorf("results %s: %w", file, derr)
	}
	if info.Records == 0 {
		return info, fmt.Errorf("results %s: not a vegeta results file (%s): %s", file, info.Format, info.TailErr)
	}
	return info, nil
}

// errStop lets a callback end reading early without an error.
var errStop = errors.New("stop")

type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

func readGob(r io.Reader, info *ReadInfo, fn func(*vegeta.Result) error) error {
	cr := &countingReader{r: bufio.NewReaderSize(r, 256<<10)}
	dec := vegeta.NewDecoder(cr) // cr is an io.ByteReader: gob reads exactly one record at a time
	var res vegeta.Result
	var good int64
	for {
		res = vegeta.Result{}
		err := dec.Decode(&res)
		if err == io.EOF && cr.n == good {
			return nil
		}
		if err != nil {
			info.Dropped = info.Bytes - good
			info.TailErr = err.Error()
			return nil
		}
		good = cr.n
		info.Records++
		if err := fn(&res); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
}

// readLines decodes a line-oriented encoding one line at a time so that a
// cut-off last line is measured, not fatal.
func readLines(r io.Reader, info *ReadInfo, factory vegeta.DecoderFactory, fn func(*vegeta.Result) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var res vegeta.Result
	var good int64
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			res = vegeta.Result{}
			derr := factory(bytes.NewReader(line)).Decode(&res)
			if derr != nil {
				info.Dropped = info.Bytes - good
				info.TailErr = derr.Error()
				return nil
			}
			good += int64(len(line))
			info.Records++
			if ferr := fn(&res); ferr != nil {
				if errors.Is(ferr, errStop) {
					return nil
				}
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
