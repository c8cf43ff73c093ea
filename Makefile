# clvflow — common tasks. `make help` lists them.
SHELL := /bin/bash
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/clvflow
TEST_TIMEOUT ?= 30m
DEMO_INPUT ?= testdata/demo/cdnow_master.txt.gz

.PHONY: help build tools lint-tools test test-short fuzz check bench bench-table chaos demo demo-down clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/clvflow
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/clvflow

tools: ## install the pinned Temporal CLI, MinIO and ONNX Runtime into .tools/ (only when missing)
	deploy/dev/install-tools.sh

lint-tools: ## install staticcheck and workflowcheck into .tools/bin
	deploy/dev/install-tools.sh --lint --only none

test: tools build ## all tests (integration tests start their own Temporal + MinIO), race detector where goroutines run, brief fuzzing
	TEST_TIMEOUT=$(TEST_TIMEOUT) deploy/dev/test.sh

chaos: tools build ## the fault suite: MinIO, Temporal and worker outages injected into real runs (~7 min)
	set -o pipefail; CLVFLOW_CHAOS=1 CLVFLOW_BIN=$(CURDIR)/$(BIN) \
	ONNXRUNTIME_SHARED_LIBRARY_PATH="$${ONNXRUNTIME_SHARED_LIBRARY_PATH:-$$(ls $(CURDIR)/.tools/lib/libonnxruntime.so* | tail -n1)}" \
	$(GO) test -count=1 -v -timeout 25m -run '^TestChaos$$' ./cmd/clvflow | grep --line-buffered -E '^(chaos:|minio-kill|temporal-restart|worker-kill)|^\s+--- (PASS|FAIL)|^(ok|FAIL)\b|_test\.go:[0-9]+:'

FUZZTIME ?= 60s
fuzz: ## run every reader's fuzz target for FUZZTIME each (20000 inputs in make test; a duration can hit golang/go#75804)
	@for f in FuzzReadCDNOW FuzzReadOnlineRetail FuzzReadCSV; do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./dataset || exit 1; \
	done

test-short: ## unit tests only (no servers)
	$(GO) test -short -count=1 ./...

check: lint-tools ## gofmt, go vet, staticcheck, workflowcheck
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	.tools/bin/staticcheck ./...
	@if [ -x .tools/bin/workflowcheck ]; then .tools/bin/workflowcheck ./workflows/...; else echo "workflowcheck not installed; determinism is covered by the replay tests"; fi

bench: tools ## benchmarks: read+clean+featurize, training epoch, BG/NBD fit, ONNX Runtime vs Go, HTTP; then the side-by-side table (bench-table)
	ONNXRUNTIME_SHARED_LIBRARY_PATH="$${ONNXRUNTIME_SHARED_LIBRARY_PATH:-$$(ls $(CURDIR)/.tools/lib/libonnxruntime.so* | tail -n1)}" \
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m ./...
	$(MAKE) --no-print-directory bench-table

BENCH_RUNS ?= 3
bench-table: tools build ## clvflow vs the Python peers (pandas, PyTorch) in the same run, BENCH_RUNS interleaved runs, medians (~2-3 min; data in .bench/)
	ONNXRUNTIME_SHARED_LIBRARY_PATH="$${ONNXRUNTIME_SHARED_LIBRARY_PATH:-$$(ls $(CURDIR)/.tools/lib/libonnxruntime.so* | tail -n1)}" \
	$(GO) run ./internal/benchtable -runs $(BENCH_RUNS) -bin $(BIN) -go $(GO)

demo: tools build ## the whole story on the bundled sample: stack up, train, gate, approve, promote, predict
	deploy/dev/demo.sh "$(DEMO_INPUT)"

demo-down: ## stop the dev stack
	$(BIN) dev down

clean: ## remove build outputs (keeps .tools/, .clvflow/ and the benchmark data in .bench/)
	rm -rf bin .test.log .bench/*.test
