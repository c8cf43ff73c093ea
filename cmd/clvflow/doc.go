// Command clvflow keeps customer-lifetime-value models fresh and trustworthy:
// it runs the local dev stack, Temporal workers, training pipelines,
// approvals, rollbacks, offline backtests, batch predictions and the scoring
// server. `clvflow --help` lists the commands.
//
// One file per command, each with its constructor (func (a *app) xxxCmd());
// root.go adds them all to the root command in one list:
//
//	dev.go        dev up|down|status: the local stack
//	worker.go     worker: a Temporal worker for the workflows and activities
//	ingest.go     ingest: upload a transaction log (IngestDataset workflow)
//	train.go      train: start a TrainingPipeline run (trainFlags, shared with schedule create)
//	status.go     status: a run's stage and pending approval
//	result.go     result: wait for a run and print its result
//	approve.go    approve: approve the version a run waits on
//	reject.go     reject: reject it
//	rollback.go   rollback: move the champion back (Rollback workflow)
//	schedule.go   schedule create|list|pause|resume|trigger|backfill|delete
//	models.go     models list|show|history|diff: the registry
//	backtest.go   backtest: fit and score the models locally
//	predict.go    predict: score customers with a model
//	serve.go      serve: the HTTP scoring server
//	config.go     config show|keys
//	version.go    version
//
// Shared parts:
//
//	main.go           entry point and exit codes
//	root.go           root command, global flags, app (configuration, logger)
//	configflags.go    flags that override config keys, applied only when given
//	trainingflags.go  the training.* flags of train, schedule create and backtest
//	decision.go       the approval Update that approve and reject send
//	print.go          pipeline result text and writeJSON, the --json output
//	models_render.go  the tables of models list, show and history
//	clients.go        MinIO, registry, Temporal and ONNX Runtime clients; workflow ids and errors
package main
