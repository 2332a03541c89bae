package loadgen

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// MaxListedCorrupt is how many corrupt spans ReadInfo lists; it counts
// them all.
const MaxListedCorrupt = 10

// maxGobRecord bounds the length of one gob record: a length prefix above
// it is corruption, not a reason to read that much. Results carry no
// response bodies, so a record is a few hundred bytes.
const maxGobRecord = 16 << 20

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
	// CorruptBytes counts the bytes before the cut tail, if any, that held
	// no readable record, in CorruptSpans separate spans; Corrupt lists the
	// first MaxListedCorrupt of them and CorruptErr says why the first one
	// could not be read.
	CorruptBytes int64      `json:"corruptBytes,omitempty"`
	CorruptSpans int64      `json:"corruptSpans,omitempty"`
	Corrupt      []ByteSpan `json:"corrupt,omitempty"`
	CorruptErr   string     `json:"corruptError,omitempty"`
	// LostRecords estimates how many records the corrupt spans held: one
	// per unreadable line of JSON or CSV; for gob, each span's length over
	// the mean length of the records read, at least one per span.
	LostRecords int64 `json:"lostRecords,omitempty"`
}

// ByteSpan is a span of a file.
type ByteSpan struct {
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// LostFraction is the estimated share of the file's records that could not
// be read: LostRecords over Records plus LostRecords. A cut tail does not
// count.
func (ri ReadInfo) LostFraction() float64 {
	if ri.LostRecords == 0 {
		return 0
	}
	return float64(ri.LostRecords) / float64(ri.Records+ri.LostRecords)
}

func (ri *ReadInfo) addCorrupt(off, n int64, err error) {
	ri.CorruptBytes += n
	ri.CorruptSpans++
	if len(ri.Corrupt) < MaxListedCorrupt {
		ri.Corrupt = append(ri.Corrupt, ByteSpan{Offset: off, Length: n})
	}
	if ri.CorruptErr == "" {
		ri.CorruptErr = fmt.Sprintf("byte %d: %v", off, err)
	}
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
// *Result is reused between calls. A missing or empty file, or one without
// a single readable record, is an error naming the file.
//
// Damage is read in one of two ways, and ReadInfo tells them apart:
//
//   - A cut tail is what a killed writer leaves: the file ends inside its
//     last record (a gob record whose length runs past the end of the file,
//     or a last line without its newline that does not decode). Every
//     record before it is read; Dropped and TailErr say what was left over.
//   - Corruption is any other record that cannot be read, such as bytes
//     overwritten in the middle of the file. Reading goes on from the next
//     readable record: the next line of JSON or CSV; for gob, the first
//     offset from which two consecutive records decode (or one that ends
//     the file). What was skipped is counted in CorruptBytes, CorruptSpans
//     and LostRecords. Whether the rest can still be judged is the caller's
//     decision (see LostFraction; report.Load's reports are inconclusive
//     above report.Rules.LostTolerance).
//
// The encodings carry no checksums: a change inside a record that still
// decodes (a letter of a URL) goes unnoticed. Records that decode to the
// impossible (no timestamp, a negative latency, a status code above 999)
// are corrupt.
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
	if _, err := f.ReadAt(head, 0); err != nil {
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
		derr = readGob(f, st.Size(), &info, fn)
	}
	if derr != nil {
		return info, fmt.Errorf("results %s: %w", file, derr)
	}
	if info.Records == 0 {
		return info, fmt.Errorf("results %s: not a vegeta results file (%s): %s", file, info.Format, cmp.Or(info.TailErr, info.CorruptErr))
	}
	return info, nil
}

// errStop lets a callback end reading early without an error.
var errStop = errors.New("stop")

// plausible rejects what no request can have produced.
func plausible(r *vegeta.Result) error {
	switch {
	case r.Timestamp.IsZero():
		return errors.New("implausible record: no timestamp")
	case r.Latency < 0:
		return fmt.Errorf("implausible record: latency %s", r.Latency)
	case r.Code > 999:
		return fmt.Errorf("implausible record: status code %d", r.Code)
	}
	return nil
}

// readLines decodes a line-oriented encoding one line at a time: a line
// that does not decode is corrupt, unless it is a last line without its
// newline, which is a cut tail.
func readLines(r io.Reader, info *ReadInfo, factory vegeta.DecoderFactory, fn func(*vegeta.Result) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var res vegeta.Result
	var off int64
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			res = vegeta.Result{}
			derr := factory(bytes.NewReader(line)).Decode(&res)
			if derr == nil {
				derr = plausible(&res)
			}
			switch {
			case derr != nil && err == io.EOF:
				info.Dropped = int64(len(line))
				info.TailErr = derr.Error()
			case derr != nil:
				info.addCorrupt(off, int64(len(line)), derr)
				info.LostRecords++
			default:
				info.Records++
				if ferr := fn(&res); ferr != nil {
					if errors.Is(ferr, errStop) {
						return nil
					}
					return ferr
				}
			}
			off += int64(len(line))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// A gob stream is a sequence of messages, each a length prefix and that
// many bytes. vegeta's starts with the messages that define the Result type
// and then holds one value message per result, each starting with Result's
// type id. readGob walks the messages itself, so that it knows where each
// record starts and ends, and hands each to a gob decoder.

var (
	errGobLength = errors.New("not a gob record length")
	errGobEmpty  = errors.New("empty gob record")
	errNotResult = errors.New("not a result record")
)

// gobFrame is one message of the stream.
type gobFrame struct {
	off  int64 // offset of its length prefix
	head int   // length of the prefix
	n    int64 // length of the message after the prefix
}

func (f gobFrame) end() int64 { return f.off + int64(f.head) + f.n }

type gobReader struct {
	src     *window
	info    *ReadInfo
	defs    []byte // the type definitions at the head of the stream
	valueID []byte // how every value message starts: Result's type id
	feed    feeder
	dec     *gob.Decoder // nil: start afresh from defs
	good    int64        // bytes of the records decoded
	spans   []int64      // lengths of the corrupt spans
}

func readGob(r io.ReaderAt, size int64, info *ReadInfo, fn func(*vegeta.Result) error) error {
	g := &gobReader{src: newWindow(r, size), info: info}
	off, err := g.prelude()
	if err != nil {
		if g.cutTail(0) {
			info.Dropped, info.TailErr = size, err.Error()
		} else {
			info.addCorrupt(0, size, err)
		}
		return nil
	}
	defer g.countLost()
	var res vegeta.Result
	for off < size {
		f, err := g.frameAt(off)
		if err == nil && !g.isValue(f) {
			err = errNotResult
		}
		if err == nil {
			res = vegeta.Result{}
			err = g.decode(f, &res)
		}
		if err == nil {
			off = f.end()
			g.good += f.end() - f.off
			info.Records++
			if ferr := fn(&res); ferr != nil {
				if errors.Is(ferr, errStop) {
					return nil
				}
				return ferr
			}
			continue
		}
		g.dec = nil
		if next, ok := g.resync(off + 1); ok {
			info.addCorrupt(off, next-off, err)
			g.spans = append(g.spans, next-off)
			off = next
			continue
		}
		if g.cutTail(off) {
			info.Dropped, info.TailErr = size-off, err.Error()
		} else {
			info.addCorrupt(off, size-off, err)
			g.spans = append(g.spans, size-off)
		}
		break
	}
	return nil
}

// prelude reads the type definitions at the head of the stream and returns
// the offset of the first value message.
func (g *gobReader) prelude() (int64, error) {
	var off int64
	for {
		f, err := g.frameAt(off)
		if err != nil {
			return 0, fmt.Errorf("not a gob stream: %w", err)
		}
		body := g.src.bytes(f.off+int64(f.head), int(min(f.n, 10)))
		id, w, err := gobUint(body)
		if err != nil {
			return 0, fmt.Errorf("not a gob stream: %w", err)
		}
		if id&1 == 0 { // a type id (type definitions have negative ones)
			g.valueID = bytes.Clone(body[:w])
			g.defs = bytes.Clone(g.src.bytes(0, int(off)))
			// The definitions alone decode up to the missing value.
			var fd feeder
			fd.load(g.defs)
			if err := gob.NewDecoder(&fd).Decode(new(vegeta.Result)); !errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, fmt.Errorf("not a gob stream of results: %v", err)
			}
			return off, nil
		}
		off = f.end()
	}
}

// frameAt reads the length prefix at off. It returns io.ErrUnexpectedEOF
// when the message runs past the end of the file.
func (g *gobReader) frameAt(off int64) (gobFrame, error) {
	b := g.src.bytes(off, 9)
	if len(b) == 0 {
		return gobFrame{}, io.ErrUnexpectedEOF
	}
	f := gobFrame{off: off}
	n, w, err := gobUint(b)
	if err != nil {
		return f, err
	}
	f.head, f.n = w, int64(n)
	switch {
	case n > maxGobRecord:
		return f, fmt.Errorf("gob record length %d is implausible", n)
	case n == 0:
		return f, errGobEmpty
	case f.end() > g.src.size:
		return f, io.ErrUnexpectedEOF
	}
	return f, nil
}

// isValue tells whether f starts like a result: with Result's type id.
func (g *gobReader) isValue(f gobFrame) bool {
	return bytes.Equal(g.src.bytes(f.off+int64(f.head), len(g.valueID)), g.valueID)
}

// cutTail tells whether the bytes from off to the end of the file are the
// start of a result record: what a writer killed mid-record leaves.
func (g *gobReader) cutTail(off int64) bool {
	f, err := g.frameAt(off)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		return false
	}
	if f.head == 0 || g.valueID == nil {
		return true // the length prefix itself is cut, or the stream's first record
	}
	have := g.src.bytes(f.off+int64(f.head), len(g.valueID))
	return bytes.HasPrefix(g.valueID, have)
}

// decode decodes one value message.
func (g *gobReader) decode(f gobFrame, res *vegeta.Result) (err error) {
	msg := g.src.bytes(f.off, int(f.end()-f.off))
	if g.dec == nil {
		g.feed.load(g.defs, msg)
		g.dec = gob.NewDecoder(&g.feed)
	} else {
		g.feed.load(msg)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("gob: %v", p)
		}
	}()
	if err := g.dec.Decode(res); err != nil {
		return err
	}
	return plausible(res)
}

// maxResyncDecodes bounds the places resync tries to decode at before it
// takes the rest of the file for corrupt: a stream of something other than
// results would otherwise be tried at every record.
const maxResyncDecodes = 1000

// resync finds the first offset from from on at which reading can go on:
// a result record followed by another or by the end of the file (or a cut
// tail), both of which decode.
func (g *gobReader) resync(from int64) (int64, bool) {
	last, tries := from-1, 0
	for p := from; ; p++ {
		// A record at o starts with Result's type id at o+1 to o+9.
		p = g.src.index(p, g.valueID)
		if p < 0 {
			return 0, false
		}
		for o := max(last+1, p-9); o < p; o++ {
			ok, tried := g.decodesAt(o)
			if ok {
				return o, true
			}
			if tried {
				if tries++; tries == maxResyncDecodes {
					return 0, false
				}
			}
		}
		last = p - 1
	}
}

// decodesAt tells whether the records at o and after it decode, and
// whether it had to decode them to know.
func (g *gobReader) decodesAt(o int64) (ok, tried bool) {
	f, err := g.frameAt(o)
	if err != nil || f.n <= int64(len(g.valueID)) || !g.isValue(f) {
		return false, false
	}
	frames := []gobFrame{f}
	if e := f.end(); e < g.src.size {
		next, err := g.frameAt(e)
		switch {
		case err == nil && g.isValue(next):
			frames = append(frames, next)
		case !g.cutTail(e):
			return false, false
		}
	}
	msgs := [][]byte{g.defs}
	for _, f := range frames {
		msgs = append(msgs, bytes.Clone(g.src.bytes(f.off, int(f.end()-f.off))))
	}
	var fd feeder
	fd.load(msgs...)
	dec := gob.NewDecoder(&fd)
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	for range frames {
		var res vegeta.Result
		if dec.Decode(&res) != nil || plausible(&res) != nil {
			return false, true
		}
	}
	return true, true
}

// countLost estimates the records of each corrupt span from the mean
// length of the records read.
func (g *gobReader) countLost() {
	mean := float64(g.good) / float64(max(g.info.Records, 1))
	for _, n := range g.spans {
		lost := int64(1)
		if mean > 0 {
			lost = max(1, int64(math.Round(float64(n)/mean)))
		}
		g.info.LostRecords += lost
	}
}

// gobUint decodes gob's unsigned integer: one byte below 0x80, else a
// byte holding minus the count of big-endian bytes that follow.
func gobUint(b []byte) (v uint64, width int, err error) {
	if len(b) == 0 {
		return 0, 0, io.ErrUnexpectedEOF
	}
	if b[0] < 0x80 {
		return uint64(b[0]), 1, nil
	}
	n := -int(int8(b[0]))
	if n > 8 {
		return 0, 0, errGobLength
	}
	if len(b) < 1+n {
		return 0, 0, io.ErrUnexpectedEOF
	}
	for _, c := range b[1 : 1+n] {
		v = v<<8 | uint64(c)
	}
	return v, 1 + n, nil
}

// feeder hands a gob decoder the messages it is loaded with and no more.
// It is an io.ByteReader, so the decoder reads no further ahead.
type feeder struct{ chunks [][]byte }

func (f *feeder) load(chunks ...[]byte) { f.chunks = append(f.chunks[:0], chunks...) }

func (f *feeder) next() []byte {
	for len(f.chunks) > 0 && len(f.chunks[0]) == 0 {
		f.chunks = f.chunks[1:]
	}
	if len(f.chunks) == 0 {
		return nil
	}
	return f.chunks[0]
}

func (f *feeder) Read(p []byte) (int, error) {
	c := f.next()
	if c == nil {
		return 0, io.EOF
	}
	n := copy(p, c)
	f.chunks[0] = c[n:]
	return n, nil
}

func (f *feeder) ReadByte() (byte, error) {
	c := f.next()
	if c == nil {
		return 0, io.EOF
	}
	f.chunks[0] = c[1:]
	return c[0], nil
}

// window reads a file through a buffer that moves to where it is read.
type window struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	off  int64 // file offset of buf[0]
}

const windowSize = 1 << 20

func newWindow(r io.ReaderAt, size int64) *window { return &window{r: r, size: size} }

// bytes returns the n bytes at off, fewer at the end of the file (or on a
// read error, which then shows as a short file). The slice is valid until
// the next call.
func (w *window) bytes(off int64, n int) []byte {
	if off >= w.off && off+int64(n) <= w.off+int64(len(w.buf)) {
		return w.buf[off-w.off : off-w.off+int64(n)]
	}
	if off >= w.size || n <= 0 {
		return nil
	}
	want := int(min(int64(max(n, windowSize)), w.size-off))
	if cap(w.buf) < want {
		w.buf = make([]byte, want)
	}
	got, _ := w.r.ReadAt(w.buf[:want], off)
	w.buf, w.off = w.buf[:got], off
	return w.buf[:min(n, got)]
}

// index returns the offset of the first needle at or after from, or -1. It
// searches what the buffer holds before it moves the buffer on.
func (w *window) index(from int64, needle []byte) int64 {
	for {
		if len(w.bytes(from, len(needle))) < len(needle) {
			return -1
		}
		b := w.buf[from-w.off:]
		if i := bytes.Index(b, needle); i >= 0 {
			return from + int64(i)
		}
		from += int64(len(b) - len(needle) + 1)
	}
}
