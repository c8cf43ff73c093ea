// Package artifacts is clvflow's artifact store on MinIO (any S3-compatible
// server): content-addressed, integrity-checked objects in versioned buckets,
// and small JSON manifests at fixed keys.
//
// Only references ([Ref]: bucket, key, version id, sha256, size) travel in
// Temporal payloads; the data itself stays in MinIO.
//
// Layout inside a bucket:
//
//	<prefix>/sha256/<hex>                 content-addressed data written by [Store.Put]
//	manifests/datasets/<hex>.json         [DatasetManifest] ([DatasetManifestKey])
//	manifests/artifacts/<name>/<hex>.json [ArtifactManifest] ([ArtifactManifestKey])
//	.clvflow-tmp/<random>                 uploads in flight ([TempPrefix]); removed on success and on failure,
//	                                      and by [Store.SweepTemp] when a crash left them
//
// [Store.Put] never buffers a whole object. A seekable input (a file,
// bytes) is hashed in a first pass, deduplicated before any upload, and then
// written in one request straight to <prefix>/sha256/<hex> with the digest
// in its user metadata. A stream that cannot be read twice is hashed while
// it goes, in parts, to a temporary key; a server-side copy then gives it
// its final name. When the final key already holds the same digest the
// existing version is reused (dedupe). Whatever fails, nothing is left
// behind: the temporary object is removed and an unfinished multipart
// upload is aborted.
//
// Only a crash (of the process, or of MinIO) in the middle of a streamed
// Put leaves something under [TempPrefix]: [Store.SweepTemp] removes what
// is older than a given age, object versions, delete markers and
// unfinished multipart uploads alike (clvflow worker runs it on its buckets
// every storage.temp_max_age/2). MinIO lists unfinished uploads by exact
// key only once it has restarted, so Put writes an empty marker object at
// its temporary key before it starts the upload, and the sweep looks for
// uploads at every temporary key it finds.
//
// [Store.Get] streams and checks the sha256 and the size at end of stream;
// [Store.GetBytes] checks before returning anything. A mismatch is an
// [*Error] of kind [Integrity].
//
// Every failure is an [*Error] whose [Kind] says what to do about it;
// transient failures (connection reset, 5xx, SlowDown, ServerBusy,
// RequestTimeout) are retried with exponential backoff under [RetryPolicy],
// nothing else is. minio-go's own retries are switched off so that the policy
// is the only one in force.
package artifacts
