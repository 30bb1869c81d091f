#!/usr/bin/env bash
# Every test: unit and integration tests under AddressSanitizer +
# UndefinedBehaviorSanitizer, the threaded ones again under ThreadSanitizer,
# the libFuzzer targets for a bounded number of runs each, then the
# end-to-end suite on a real Kubernetes (e2e/run-tests).
#
#   scripts/test.sh            everything
#   FLINC_SKIP_E2E=1 scripts/test.sh   without Kubernetes
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
status=0

# Flink's web dashboard for integration.dashboard, cached in ~/.cache/flinc
# (a download only the first time).
scripts/fetch-web.sh >/dev/null || status=1

echo "== unit + integration tests (ASan + UBSan) =="
cmake --preset asan-ubsan >/dev/null
cmake --build --preset asan-ubsan
ctest --preset asan-ubsan --timeout 600 || status=1

echo "== threaded tests (TSan) =="
cmake --preset tsan >/dev/null
cmake --build --preset tsan
ctest --preset tsan --timeout 600 || status=1

echo "== fuzz targets (libFuzzer, bounded runs) =="
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
ctest --preset fuzz --timeout 600 || status=1

if [[ ${FLINC_SKIP_E2E:-0} != 1 ]]; then
	echo "== end-to-end tests on Kubernetes =="
	e2e/run-tests || status=1
fi
exit $status
