package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
)

// Internal storage outcomes, mapped to the public sentinels by callers that
// know what the object means.
var (
	errMissing = errors.New("object does not exist")
	errExists  = errors.New("object already exists")
	// errUseHead tells appendEntry to return the current head entry instead
	// of writing a new one (an idempotent replay).
	errUseHead = errors.New("use head entry")
)

func (r *Registry) storageErr(op, key string, err error) error {
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchBucket":
		return fmt.Errorf("registry: %s s3://%s/%s: bucket %q does not exist (create it with EnsureBucket or `clvflow dev up`): %w", op, r.bucket, key, r.bucket, err)
	case resp.Code == "NoSuchKey" || resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: s3://%s/%s", errMissing, r.bucket, key)
	case resp.Code == "PreconditionFailed" || resp.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: s3://%s/%s", errExists, r.bucket, key)
	}
	return fmt.Errorf("registry: %s s3://%s/%s: %w", op, r.bucket, key, err)
}

// get reads a whole object; a missing object gives errMissing.
func (r *Registry) get(ctx context.Context, key string) ([]byte, error) {
	obj, err := r.client.GetObject(ctx, r.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, r.storageErr("get", key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		return nil, r.storageErr("get", key, err)
	}
	return b, nil
}

// putIfAbsent creates key with body unless it exists (errExists). The
// condition (If-None-Match: *) is checked by MinIO under the object's
// namespace lock, so of two concurrent creators exactly one succeeds.
func (r *Registry) putIfAbsent(ctx context.Context, key string, body []byte) error {
	opts := minio.PutObjectOptions{ContentType: "application/json", DisableMultipart: true}
	opts.SetMatchETagExcept("*")
	if _, err := r.client.PutObject(ctx, r.bucket, key, bytes.NewReader(body), int64(len(body)), opts); err != nil {
		return r.storageErr("put", key, err)
	}
	return nil
}

// create is putIfAbsent that also succeeds when the existing object is
// byte-identical to body: our own earlier attempt whose response was lost.
func (r *Registry) create(ctx context.Context, key string, body []byte) error {
	err := r.putIfAbsent(ctx, key, body)
	if !errors.Is(err, errExists) {
		return err
	}
	existing, gerr := r.get(ctx, key)
	if gerr != nil {
		return gerr
	}
	if bytes.Equal(existing, body) {
		return nil
	}
	return err
}

// listKeys lists every key under prefix.
func (r *Registry) listKeys(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	var keys []string
	for obj := range r.client.ListObjects(ctx, r.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: recursive}) {
		if obj.Err != nil {
			return nil, r.storageErr("list", prefix, obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	return keys, nil
}

// seqLog is an append-only log of objects numbered 1, 2, … under prefix,
// named prefix + stem + number (zero-padded to pad digits) + ".json".
type seqLog struct {
	what   string // for messages, e.g. `alias "champion"`
	prefix string
	stem   string
	pad    int
	// sparse logs may have gaps (versions registered under an explicit
	// id), so their head is always found by listing, never from a hint.
	sparse bool
}

func (l seqLog) key(n int64) string {
	return fmt.Sprintf("%s%s%0*d.json", l.prefix, l.stem, l.pad, n)
}

func (l seqLog) parse(key string) (int64, bool) {
	s, ok := strings.CutPrefix(key, l.prefix+l.stem)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, ".json"); !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || l.key(n) != key {
		return 0, false
	}
	return n, true
}

// listed returns the entry numbers present in a listing, ascending.
func (r *Registry) listed(ctx context.Context, l seqLog) ([]int64, error) {
	keys, err := r.listKeys(ctx, l.prefix, true)
	if err != nil {
		return nil, err
	}
	var ns []int64
	for _, k := range keys {
		if n, ok := l.parse(k); ok {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	return ns, nil
}

// probe walks forward from entry n (with body) while entry n+1 exists, so a
// listing that lags behind a just-completed write cannot hide the head.
func (r *Registry) probe(ctx context.Context, l seqLog, n int64, body []byte) (int64, []byte, error) {
	for {
		b, err := r.get(ctx, l.key(n+1))
		if errors.Is(err, errMissing) {
			return n, body, nil
		}
		if err != nil {
			return 0, nil, err
		}
		n, body = n+1, b
	}
}

// head returns the number and body of the last entry (0, nil when empty).
// For a dense log it starts from the highest entry this Registry has seen
// (a valid lower bound: entries are never removed) and lists the log only
// when it has seen none, so a move costs a few GETs however long the history
// is. The result is the same either way.
func (r *Registry) head(ctx context.Context, l seqLog) (int64, []byte, error) {
	var n int64
	var body []byte
	if hint := r.hint(l); hint > 0 && !l.sparse {
		b, err := r.get(ctx, l.key(hint))
		switch {
		case err == nil:
			n, body = hint, b
		case !errors.Is(err, errMissing):
			return 0, nil, err
		}
	}
	if n == 0 {
		ns, err := r.listed(ctx, l)
		if err != nil {
			return 0, nil, err
		}
		if len(ns) > 0 {
			n = ns[len(ns)-1]
			if body, err = r.get(ctx, l.key(n)); err != nil {
				return 0, nil, err
			}
		}
	}
	n, body, err := r.probe(ctx, l, n, body)
	if err != nil {
		return 0, nil, err
	}
	r.setHint(l, n)
	return n, body, nil
}

func (r *Registry) hint(l seqLog) int64 {
	r.hintsMu.Lock()
	defer r.hintsMu.Unlock()
	return r.hints[l.prefix]
}

func (r *Registry) setHint(l seqLog, n int64) {
	r.hintsMu.Lock()
	defer r.hintsMu.Unlock()
	if r.hints == nil {
		r.hints = map[string]int64{}
	}
	r.hints[l.prefix] = max(r.hints[l.prefix], n)
}

// entries returns every entry body in order 1..n and fails on a gap.
func (r *Registry) entries(ctx context.Context, l seqLog) ([][]byte, error) {
	ns, err := r.listed(ctx, l)
	if err != nil {
		return nil, err
	}
	var bodies [][]byte
	for i, n := range ns {
		if n != int64(i+1) {
			return nil, fmt.Errorf("registry: %s: entry %d is missing (found %s): log is corrupt", l.what, i+1, l.key(n))
		}
		b, err := r.get(ctx, l.key(n))
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, b)
	}
	// Pick up entries written after the listing was taken.
	for next := int64(len(ns)) + 1; ; next++ {
		b, err := r.get(ctx, l.key(next))
		if errors.Is(err, errMissing) {
			return bodies, nil
		}
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, b)
	}
}

// appendEntry writes entry head+1 of l. build gets the current head (0, nil
// when the log is empty) and returns the next entry's body; it may return
// errUseHead to answer with the head itself, or any other error to stop.
// When another writer wins entry head+1 first, the loop re-reads and calls
// build again, up to r.maxAttempts times.
func (r *Registry) appendEntry(ctx context.Context, l seqLog, build func(n int64, head []byte) ([]byte, error)) (int64, []byte, error) {
	n, head, err := r.head(ctx, l)
	if err != nil {
		return 0, nil, err
	}
	for range r.maxAttempts {
		if err := ctx.Err(); err != nil {
			return 0, nil, fmt.Errorf("registry: append to %s: %w", l.what, err)
		}
		body, err := build(n, head)
		if errors.Is(err, errUseHead) {
			return n, head, nil
		}
		if err != nil {
			return 0, nil, err
		}
		err = r.putIfAbsent(ctx, l.key(n+1), body)
		if err == nil {
			r.setHint(l, n+1)
			return n + 1, body, nil
		}
		if !errors.Is(err, errExists) {
			return 0, nil, err
		}
		existing, err := r.get(ctx, l.key(n+1))
		if err != nil {
			return 0, nil, err
		}
		if bytes.Equal(existing, body) {
			return n + 1, body, nil // our own write, its response was lost
		}
		if n, head, err = r.probe(ctx, l, n+1, existing); err != nil {
			return 0, nil, err
		}
	}
	return 0, nil, conflictf("append to %s: gave up after %d attempts under contention", l.what, r.maxAttempts)
}
