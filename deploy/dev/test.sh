#!/usr/bin/env bash
# The test suite behind `make test`. Integration tests (TestIntegration…) start
# their own Temporal dev server and MinIO on free 127.0.0.1 ports. Packages
# whose code runs goroutines are tested with the race detector. The full -v
# log goes to .test.log; the console shows every test's PASS/FAIL/SKIP line,
# the messages tests log, and each package's result.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
GO="${GO:-go}"
TIMEOUT="${TEST_TIMEOUT:-30m}"
RACE_RE='/(serving|onnxrt|registry|artifacts|config)$|/internal/devstack$'
lib="$(ls "$PWD"/.tools/lib/libonnxruntime.so* 2>/dev/null | tail -n1)"
export ONNXRUNTIME_SHARED_LIBRARY_PATH="${ONNXRUNTIME_SHARED_LIBRARY_PATH:-$lib}"
export CLVFLOW_BIN="${CLVFLOW_BIN:-$PWD/bin/clvflow}"
filter() { grep --line-buffered -E '^\s*--- (PASS|FAIL|SKIP)|^(ok|FAIL|PASS)\b|^panic:|^\s+[A-Za-z0-9_]+_test\.go:[0-9]+:|^fuzz: elapsed: .*execs' ; }
: > .test.log
rc=0
plain=$($GO list ./... | grep -v -E "$RACE_RE")
race=$($GO list ./... | grep -E "$RACE_RE")
# The go test's own status decides: read PIPESTATUS straight after each
# pipeline (with pipefail, a `|| true` after it would reset it to 0 and
# hide failures).
$GO test -v -count=1 -timeout "$TIMEOUT" $plain 2>&1 | tee -a .test.log | filter
st=("${PIPESTATUS[@]}"); [ "${st[0]}" -eq 0 ] || rc=1
$GO test -v -race -count=1 -timeout "$TIMEOUT" $race 2>&1 | tee -a .test.log | filter
st=("${PIPESTATUS[@]}"); [ "${st[0]}" -eq 0 ] || rc=1
# A count, not a duration: Go 1.26's fuzz coordinator can fail a target
# with "context deadline exceeded" when a duration ends while a worker is
# mid-input (golang/go#75804, fixed in Go 1.27); 20000 inputs take about
# 3-5 s each here.
for f in FuzzReadCDNOW FuzzReadOnlineRetail FuzzReadCSV; do
  $GO test -run '^$' -fuzz "^$f\$" -fuzztime "${FUZZTIME:-20000x}" ./dataset 2>&1 | tee -a .test.log | grep -E '^(ok|FAIL|--- FAIL)|^\s+'
  st=("${PIPESTATUS[@]}"); [ "${st[0]}" -eq 0 ] || rc=1
done
[ "$(grep -cE '^\s*--- FAIL' .test.log)" -eq 0 ] || rc=1
pass=$(grep -cE '^\s*--- PASS' .test.log); fail=$(grep -cE '^\s*--- FAIL' .test.log); skip=$(grep -cE '^\s*--- SKIP' .test.log)
echo "tests: $pass passed, $fail failed, $skip skipped"
echo "full log: .test.log"
exit $rc
