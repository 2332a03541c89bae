package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/runfolder"
	"github.com/rehearse/rehearse/scenarios"
)

// Prefix starts every key the writer writes: ledger/0000000042 holds write
// 42's sequence number.
const Prefix = "ledger/"

// ReadBacksFile, in a run folder, holds one JSON line per read-back.
const ReadBacksFile = runfolder.LedgerReadBacks

// Key is the key of write seq.
func Key(seq uint64) string { return fmt.Sprintf("%s%010d", Prefix, seq) }

// SeqOf parses a key written by Key.
func SeqOf(key string) (uint64, bool) {
	s, ok := strings.CutPrefix(key, Prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// Writer issues the sequenced writes: each request puts a key of its own
// through etcd's JSON gateway (POST /v3/kv/put). The key also rides in the
// URL's fragment, which is never sent but is recorded with the result, so
// the results file says which write each result acknowledged.
type Writer struct {
	seq atomic.Uint64
}

// Target is the writes' load stream over the store's client entry points.
func (w *Writer) Target(urls []string, rate float64) loadgen.Target {
	return loadgen.Target{
		Name:    scenarios.LedgerTarget,
		URLs:    urls,
		Rate:    rate,
		Method:  http.MethodPost,
		Path:    "/v3/kv/put",
		Probe:   loadgen.ProbeFresh,
		Expect:  loadgen.Expect{Status: []int{http.StatusOK}, BodyContains: `"revision"`},
		Request: w.request,
	}
}

func (w *Writer) request(base string) vegeta.Target {
	seq := w.seq.Add(1)
	key := Key(seq)
	body, _ := json.Marshal(map[string]string{
		"key":   base64.StdEncoding.EncodeToString([]byte(key)),
		"value": base64.StdEncoding.EncodeToString([]byte(strconv.FormatUint(seq, 10))),
	})
	return vegeta.Target{Method: http.MethodPost, URL: strings.TrimRight(base, "/") + "/v3/kv/put#" + key, Body: body}
}

// SeqOfResult returns the write a result of the ledger's stream was for.
func SeqOfResult(r *vegeta.Result) (uint64, bool) {
	_, frag, ok := strings.Cut(r.URL, "#")
	if !ok {
		return 0, false
	}
	return SeqOf(frag)
}

// ReadBack is one reading of every key the writer wrote.
type ReadBack struct {
	// After says what the read-back follows: a phase's end, a node's
	// upgrade step, or "end".
	After   string    `json:"after"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Keys are the writes found, each [sequence number, create revision].
	Keys  [][2]int64 `json:"keys,omitempty"`
	Count int        `json:"count"`
	// Error says why the store could not be read.
	Error string `json:"error,omitempty"`
}

// Reader reads the keys back through the store's entry points and records
// each read-back to the run folder.
type Reader struct {
	// URLs returns the current entry points.
	URLs   func() []string
	Path   string
	Client *http.Client
	mu     sync.Mutex
}

// Read reads every key back, trying each entry point in turn, and appends
// the read-back to the file. after says what the read-back follows.
func (rd *Reader) Read(ctx context.Context, after string) ReadBack {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rb := ReadBack{After: after, Started: time.Now()}
	var errs []string
	read := false
	for _, base := range rd.URLs() {
		keys, err := rd.rangeAll(ctx, base)
		if err == nil {
			rb.Keys, rb.Count, read = keys, len(keys), true
			break
		}
		errs = append(errs, err.Error())
	}
	rb.Ended = time.Now()
	switch {
	case read:
	case len(errs) == 0:
		rb.Error = "no entry point to read from"
	default:
		rb.Error = strings.Join(errs, "; ")
	}
	if err := rd.append(rb); err != nil && rb.Error == "" {
		rb.Error = err.Error()
	}
	return rb
}

func (rd *Reader) append(rb ReadBack) error {
	f, err := os.OpenFile(rd.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, runfolder.FileMode)
	if err != nil {
		return fmt.Errorf("record read-back: %w", err)
	}
	b, _ := json.Marshal(rb)
	_, err = f.Write(append(b, '\n'))
	return errors.Join(err, f.Close())
}

// rangeAll asks one entry point for every key under Prefix (a linearizable
// read: it goes through the leader).
func (rd *Reader) rangeAll(ctx context.Context, base string) ([][2]int64, error) {
	end := []byte(Prefix)
	end[len(end)-1]++
	body, _ := json.Marshal(map[string]any{
		"key":       base64.StdEncoding.EncodeToString([]byte(Prefix)),
		"range_end": base64.StdEncoding.EncodeToString(end),
		"keys_only": true,
	})
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	u := strings.TrimRight(base, "/") + "/v3/kv/range"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	client := rd.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", u, resp.Status, firstLine(string(raw)))
	}
	return parseRange(raw)
}

// parseRange reads etcd's JSON range answer (64-bit numbers as strings).
func parseRange(raw []byte) ([][2]int64, error) {
	var out struct {
		KVs []struct {
			Key            string `json:"key"`
			CreateRevision string `json:"create_revision"`
		} `json:"kvs"`
		More bool `json:"more"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("read the range answer: %w", err)
	}
	if out.More {
		return nil, errors.New("the range answer is incomplete (more: true)")
	}
	keys := make([][2]int64, 0, len(out.KVs))
	for _, kv := range out.KVs {
		k, err := base64.StdEncoding.DecodeString(kv.Key)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", kv.Key, err)
		}
		seq, ok := SeqOf(string(k))
		if !ok {
			continue
		}
		rev, err := strconv.ParseInt(kv.CreateRevision, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("key %s: create_revision %q: %w", k, kv.CreateRevision, err)
		}
		keys = append(keys, [2]int64{int64(seq), rev})
	}
	return keys, nil
}

// ReadReadBacks reads a run folder's read-backs file.
func ReadReadBacks(path string) ([]ReadBack, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []ReadBack
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	line := 0
	for sc.Scan() {
		line++
		var rb ReadBack
		if err := json.Unmarshal(sc.Bytes(), &rb); err != nil {
			return out, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, rb)
	}
	return out, sc.Err()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
