package artifacts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// SweepResult says what [Store.SweepTemp] removed, and what it left alone
// because it was younger than the cutoff.
type SweepResult struct {
	// Objects is the number of temporary keys that lost at least one
	// version.
	Objects int
	// Versions is the number of object versions and delete markers removed.
	Versions int
	// Uploads is the number of unfinished multipart uploads aborted.
	Uploads int
	// Bytes is the size of the object versions removed. The parts of
	// aborted uploads are not counted (listing uploads does not give their
	// size).
	Bytes int64
	// Young is the number of versions and uploads under [TempPrefix] kept
	// because they are not older than the cutoff (uploads that may still be
	// in flight).
	Young int
}

// Removed reports whether the sweep removed anything.
func (r SweepResult) Removed() bool { return r.Versions > 0 || r.Uploads > 0 }

// sweepVersion is one object version (or delete marker) under TempPrefix.
type sweepVersion struct {
	key, versionID string
	size           int64
	deleteMarker   bool
}

// SweepTemp removes what interrupted uploads left under [TempPrefix] in
// bucket: every object version and delete marker whose LastModified is
// older than olderThan (so nothing of it remains in a versioned bucket),
// and every unfinished multipart upload initiated before that. olderThan
// protects the uploads in flight of other processes: it must exceed the
// longest upload (and any clock skew between this host and the server);
// 0 removes everything under the prefix, in flight or not. Keys outside
// TempPrefix are never touched.
//
// Unfinished uploads are found three ways, so that each S3 server's
// listing is covered: by prefix (S3), bucket-wide filtered by the prefix
// (MinIO answers only this one, from memory, so not after a restart), and
// at each temporary key that holds a version (MinIO lists by exact key;
// Put writes a marker object at its temporary key before an upload for
// that reason). When aborting an upload fails the versions at its key are
// kept, so that the next sweep finds the upload again.
//
// SweepTemp goes on past individual failures and returns what it removed
// with every failure joined in one error, whose [KindOf] is the first
// failure's kind. It stops at the first failure that makes going on
// pointless (Unreachable, BadCredentials, a cancelled ctx). Things removed
// concurrently (another sweep, the upload's own cleanup) are not failures.
// Running it again later is always safe.
func (s *Store) SweepTemp(ctx context.Context, bucket string, olderThan time.Duration) (SweepResult, error) {
	if err := checkBucket(bucket); err != nil {
		return SweepResult{}, s.invalid(sweepOp, bucket, TempPrefix, err)
	}
	if olderThan < 0 {
		return SweepResult{}, s.invalid(sweepOp, bucket, TempPrefix, fmt.Errorf("olderThan %s is negative", olderThan))
	}
	sw := &sweep{s: s, ctx: ctx, bucket: bucket, olderThan: olderThan, cutoff: time.Now().Add(-olderThan)}
	versions, keys, err := sw.listVersions()
	// A missing bucket ends the sweep too: nothing else can be listed.
	if err != nil && (sw.fail(err) || IsNotFound(err)) {
		return sw.done()
	}
	uploads, stop := sw.listUploads(append([]string{TempPrefix, ""}, keys...))
	if stop {
		return sw.done()
	}
	stuck, stop := sw.abortUploads(uploads)
	if stop {
		return sw.done()
	}
	sw.removeVersions(versions, stuck)
	return sw.done()
}

const sweepOp = "sweep-temp"

// sweep is the state of one [Store.SweepTemp].
type sweep struct {
	s         *Store
	ctx       context.Context
	bucket    string
	olderThan time.Duration
	cutoff    time.Time
	res       SweepResult
	errs      []error
}

// old reports whether something last modified at t is swept.
func (sw *sweep) old(t time.Time) bool { return sw.olderThan == 0 || t.Before(sw.cutoff) }

// fail records err and reports whether the sweep must stop.
func (sw *sweep) fail(err error) bool {
	sw.errs = append(sw.errs, err)
	switch KindOf(err) {
	case Unreachable, BadCredentials:
		return true
	}
	return sw.ctx.Err() != nil
}

func (sw *sweep) done() (SweepResult, error) { return sw.res, joinErrors(sw.errs) }

// listVersions lists the old object versions and delete markers under the
// prefix, and every key that holds one (young or old: an old upload may
// sit under the young marker of a later attempt); it counts the young ones.
func (sw *sweep) listVersions() (versions []sweepVersion, keys []string, err error) {
	young := 0
	err = sw.s.call(sw.ctx, sweepOp, sw.bucket, TempPrefix, func(ctx context.Context) error {
		versions, keys, young = versions[:0], keys[:0], 0
		for oi := range sw.s.client.ListObjectsIter(ctx, sw.bucket, minio.ListObjectsOptions{Prefix: TempPrefix, Recursive: true, WithVersions: true}) {
			if oi.Err != nil {
				return oi.Err
			}
			if !strings.HasPrefix(oi.Key, TempPrefix) {
				continue
			}
			if len(keys) == 0 || keys[len(keys)-1] != oi.Key { // versions come grouped by key
				keys = append(keys, oi.Key)
			}
			if !sw.old(oi.LastModified) {
				young++
				continue
			}
			versions = append(versions, sweepVersion{key: oi.Key, versionID: oi.VersionID, size: oi.Size, deleteMarker: oi.IsDeleteMarker})
		}
		return nil
	})
	sw.res.Young += young
	return versions, keys, err
}

// listUploads finds the old unfinished multipart uploads under each of
// prefixes (by prefix, bucket-wide, and at each temporary key seen), each
// once; it counts the young ones. stop: a failure ended the sweep.
func (sw *sweep) listUploads(prefixes []string) (uploads []minio.ObjectMultipartInfo, stop bool) {
	seen := map[string]bool{} // upload ids
	for _, prefix := range prefixes {
		found, err := sw.uploadsAt(prefix)
		if err != nil && !IsNotFound(err) && sw.fail(err) {
			return nil, true
		}
		for _, u := range found {
			if seen[u.UploadID] {
				continue
			}
			seen[u.UploadID] = true
			if sw.old(u.Initiated) {
				uploads = append(uploads, u)
			} else {
				sw.res.Young++
			}
		}
	}
	return uploads, false
}

// uploadsAt lists the unfinished uploads of temporary keys under prefix.
func (sw *sweep) uploadsAt(prefix string) ([]minio.ObjectMultipartInfo, error) {
	var found []minio.ObjectMultipartInfo
	err := sw.s.call(sw.ctx, sweepOp, sw.bucket, prefix, func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		found = found[:0]
		for u := range sw.s.client.ListIncompleteUploads(ctx, sw.bucket, prefix, true) {
			if u.Err != nil {
				return u.Err
			}
			if strings.HasPrefix(u.Key, TempPrefix) {
				found = append(found, u)
			}
		}
		return nil
	})
	return found, err
}

// abortUploads aborts uploads and returns the keys with an upload that
// could not be aborted. stop: a failure ended the sweep.
func (sw *sweep) abortUploads(uploads []minio.ObjectMultipartInfo) (stuck map[string]bool, stop bool) {
	stuck = map[string]bool{}
	for _, u := range uploads {
		err := sw.s.call(sw.ctx, sweepOp+"-abort", sw.bucket, u.Key, func(ctx context.Context) error {
			return sw.s.core.AbortMultipartUpload(ctx, sw.bucket, u.Key, u.UploadID)
		})
		switch {
		case err == nil:
			sw.res.Uploads++
		case IsNotFound(err): // completed or aborted meanwhile
		default:
			stuck[u.Key] = true
			if sw.fail(withUpload(err, u.UploadID)) {
				return stuck, true
			}
		}
	}
	return stuck, false
}

// removeVersions removes versions, except at the stuck keys (whose upload
// the next sweep must find again).
func (sw *sweep) removeVersions(versions []sweepVersion, stuck map[string]bool) {
	removedFrom := map[string]bool{}
	for _, v := range versions {
		if stuck[v.key] {
			continue
		}
		err := sw.s.call(sw.ctx, sweepOp+"-remove", sw.bucket, v.key, func(ctx context.Context) error {
			return sw.s.client.RemoveObject(ctx, sw.bucket, v.key, minio.RemoveObjectOptions{VersionID: v.versionID})
		})
		switch {
		case err == nil:
			sw.res.Versions++
			if !v.deleteMarker {
				sw.res.Bytes += v.size
			}
			if !removedFrom[v.key] {
				removedFrom[v.key] = true
				sw.res.Objects++
			}
		case IsNotFound(err): // removed meanwhile
		default:
			if sw.fail(withVersion(err, v.versionID)) {
				return
			}
		}
	}
}

// withUpload names the multipart upload in an *Error's cause (a copy).
func withUpload(err error, uploadID string) error {
	var e *Error
	if !errors.As(err, &e) {
		return fmt.Errorf("upload %s: %w", uploadID, err)
	}
	c := *e
	c.Err = fmt.Errorf("upload %s: %w", uploadID, e.Err)
	return &c
}

// maxJoinedMessages bounds how many failures a joined error spells out.
const maxJoinedMessages = 5

// joinedErrors is several failures as one error: a single line (the
// first few messages), and errors.As / [KindOf] see each of them in order.
type joinedErrors []error

func (e joinedErrors) Error() string {
	n := min(len(e), maxJoinedMessages)
	msgs := make([]string, n)
	for i := range n {
		msgs[i] = e[i].Error()
	}
	s := strings.Join(msgs, "; ")
	if len(e) > n {
		s += fmt.Sprintf("; and %d more failures", len(e)-n)
	}
	return s
}

func (e joinedErrors) Unwrap() []error { return e }

// joinErrors returns nil, the one error, or a joinedErrors.
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return joinedErrors(slices.Clone(errs))
}
