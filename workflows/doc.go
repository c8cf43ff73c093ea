// Package workflows holds clvflow's Temporal workflows. Everything here is
// deterministic workflow code: no I/O, no wall clock, no global randomness,
// no map iteration that affects commands. Work with side effects lives in
// package activities and is called through (*activities.Activities) method
// references; only references to MinIO objects travel in payloads.
//
// Workflows:
//   - IngestDataset: upload a transaction log and record its manifest.
//   - TrainingPipeline: ingest → validate → featurize → train → evaluate →
//     gate → export ONNX + parity → register → approval → promote (+ canary),
//     with compensations on failure.
//   - Rollback: move the champion alias back, with the same audit trail.
package workflows
