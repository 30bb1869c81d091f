# shellcheck shell=bash
# lib.sh — helpers shared by the integration test scripts.
#
# A script sources this file after `set -euo pipefail`, calls it_setup, runs
# its checks with check/pass/fail, and ends with it_finish, which prints the
# plain summary line `N passed, N failed` and exits non-zero on any failure.
#
# Environment (set by ctest, see CMakeLists.txt):
#   FLINC      the flinc CLI binary
#   EXAMPLES   directory holding the example jobs (wordcount.so)
#   JOBS       directory holding the test jobs built from jobs/*.c
#   FLINC_SOURCE_DIR  (optional) the source tree
#   KEEP=1     keep the temporary directory for inspection

: "${FLINC:?FLINC must name the flinc binary}"
: "${EXAMPLES:?EXAMPLES must name the examples build directory}"
: "${JOBS:?JOBS must name the integration test jobs directory}"
IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FLINC_SOURCE_DIR=${FLINC_SOURCE_DIR:-$(cd "$IT_DIR/../.." && pwd)}

# Sanitizer defaults when run outside `ctest --preset`: leaks are errors.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$FLINC_SOURCE_DIR/tests/support/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LC_ALL=C

# Hard limit on any one flinc run: a hang is a failure, not a stuck suite.
IT_TIMEOUT=${IT_TIMEOUT:-120}

IT_PASS=0
IT_FAIL=0
IT_DONE=0
WORK=

it_cleanup() {
	local rc=$?
	if [ "$IT_DONE" = 0 ]; then
		echo "FAIL: script aborted (exit $rc) before it finished"
		IT_FAIL=$((IT_FAIL + 1))
		echo "$IT_PASS passed, $IT_FAIL failed"
	fi
	if [ -n "$WORK" ] && [ -z "${KEEP:-}" ]; then
		rm -rf "$WORK"
	elif [ -n "$WORK" ]; then
		echo "kept $WORK" >&2
	fi
	if [ "$IT_DONE" = 0 ]; then
		exit 1
	fi
}

it_setup() {
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/flinc-it.XXXXXX")
	trap it_cleanup EXIT
	trap 'echo "error: command failed at ${BASH_SOURCE[0]}:$LINENO: $BASH_COMMAND" >&2' ERR
	for f in "$FLINC" "$EXAMPLES/wordcount.so"; do
		[ -e "$f" ] || { echo "missing $f (build the project first)" >&2; exit 1; }
	done
}

pass() {
	IT_PASS=$((IT_PASS + 1))
	echo "PASS: $*"
}

# fail NAME [DETAIL...]: DETAIL lines go to the log after the FAIL line.
fail() {
	IT_FAIL=$((IT_FAIL + 1))
	echo "FAIL: $1"
	shift
	local d
	for d in "$@"; do
		printf '    %s\n' "$d"
	done
}

# check NAME COMMAND...: pass if COMMAND succeeds.
check() {
	local name=$1
	shift
	if "$@"; then
		pass "$name"
	else
		fail "$name"
	fi
}

it_finish() {
	IT_DONE=1
	echo "$IT_PASS passed, $IT_FAIL failed"
	[ "$IT_FAIL" -eq 0 ]
}

# run_flinc TAG ARGS...: `flinc run --local ARGS...` under a timeout, stdout in
# $WORK/TAG.out, stderr in $WORK/TAG.err, exit code in RC (124: timed out).
# As for a user, stderr holds the job id, warnings, errors and the final
# line; the INFO log goes to $WORK/TAG.log (see log_of), unless ARGS has -v.
run_flinc() {
	local tag=$1
	shift
	RC=0
	timeout -k 10 "$IT_TIMEOUT" "$FLINC" run --local --no-progress -D "log.file=$WORK/$tag.log" "$@" \
		>"$WORK/$tag.out" 2>"$WORK/$tag.err" || RC=$?
}

# log_of TAG: the INFO log of the run TAG.
log_of() { echo "$WORK/$1.log"; }

# plan_flinc TAG ARGS...: `flinc plan ARGS...`, same conventions.
plan_flinc() {
	local tag=$1
	shift
	RC=0
	timeout -k 10 "$IT_TIMEOUT" "$FLINC" plan "$@" \
		>"$WORK/$tag.out" 2>"$WORK/$tag.err" || RC=$?
}

# The last line of stderr says how the job ended.
finished() { tail -n 1 "$WORK/$1.err" | grep -Eq "^Job '.*' \([0-9a-f]+\) FINISHED in [0-9]+ ms$"; }
failed_line() { tail -n 1 "$WORK/$1.err" | grep -Eq "^Job '.*' \([0-9a-f]+\) FAILED: "; }

# No sanitizer report in a file.
sanitizer_clean() {
	! grep -Eq 'ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|runtime error:|SUMMARY: (Address|Undefined|Leak|Thread)' "$1"
}

# logs_clean FILE...: one pass when no file holds a sanitizer report, else a
# fail per file that does (missing files, e.g. unmatched globs, are skipped).
logs_clean() {
	local f dirty=0 n=0
	for f in "$@"; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		if ! sanitizer_clean "$f"; then
			dirty=1
			# The whole report (its stacks are what a CI log must show), capped.
			fail "sanitizer report in $(basename "$f")" \
				"$(sed -n '/ERROR: \(Address\|Leak\|Thread\)Sanitizer\|WARNING: ThreadSanitizer\|runtime error:/,/^SUMMARY: /p' "$f" | head -n 120)"
		fi
	done
	[ "$dirty" = 0 ] && pass "no sanitizer report in $n process logs and outputs"
	return 0
}

# check_finished TAG: the run TAG exited 0, ended FINISHED and no sanitizer report.
check_finished() {
	local tag=$1
	if [ "$RC" -eq 0 ] && finished "$tag" && sanitizer_clean "$WORK/$tag.err"; then
		pass "$tag: exit 0, FINISHED, sanitizers quiet"
	else
		fail "$tag: expected exit 0 and FINISHED (exit $RC)" "$(tail -n 5 "$WORK/$tag.err")"
	fi
}

# Strips Flink's print-sink prefix "N> ".
strip_prefix() { sed -E 's/^[0-9]+> //'; }

# same_file NAME EXPECTED ACTUAL: exact comparison, a short diff on failure.
same_file() {
	if cmp -s "$2" "$3"; then
		pass "$1"
	else
		fail "$1" "$(diff "$2" "$3" | head -n 10)" \
			"(expected $(wc -l <"$2") lines, got $(wc -l <"$3"))"
	fi
}

# start_flinc TAG ARGS...: run_flinc in the background, in a session of its
# own with SIGINT and SIGTERM at their defaults, as from an interactive
# shell (an `&` in a script starts it with SIGINT ignored, which the client
# respects); its pid in BG_PID. End with wait_flinc.
start_flinc() {
	local tag=$1
	shift
	setsid env --default-signal=INT,TERM "$FLINC" run --local --no-progress \
		-D "log.file=$WORK/$tag.log" "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
	BG_PID=$!
}

# wait_line TAG REGEX SECONDS: waits until TAG's stderr has a line matching
# REGEX (fails after SECONDS).
wait_line() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -Eq -- "$2" "$WORK/$1.err" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# wait_flinc SECONDS: waits at most SECONDS for BG_PID to end; its exit code
# in RC (124 when it had to be killed) and the time it took in WAITED_MS.
wait_flinc() {
	local i start
	start=$(date +%s%N)
	for ((i = 0; i < $1 * 20; i++)); do
		kill -0 "$BG_PID" 2>/dev/null || break
		sleep 0.05
	done
	RC=0
	if kill -0 "$BG_PID" 2>/dev/null; then
		kill -9 "$BG_PID" 2>/dev/null || true
		wait "$BG_PID" 2>/dev/null || true
		RC=124
	else
		wait "$BG_PID" || RC=$?
	fi
	WAITED_MS=$((($(date +%s%N) - start) / 1000000))
}

# last_err TAG: the last line of TAG's stderr.
last_err() { tail -n 1 "$WORK/$1.err"; }

# expect_last TAG WANT_RC REGEX: the run's exit code, its last stderr line
# (ERE) and no sanitizer report.
expect_last() {
	local tag=$1 want=$2 re=$3
	if [ "$RC" -eq "$want" ] && last_err "$tag" | grep -Eq -- "$re" && sanitizer_clean "$WORK/$tag.err"; then
		pass "$tag: exit $RC, last line: $(last_err "$tag" | cut -c1-200)"
	else
		fail "$tag: expected exit $want and a last line matching /$re/ (exit $RC)" \
			"$(tail -n 4 "$WORK/$tag.err" | cut -c1-300)"
	fi
}

# no_info_on_stderr TAG: stderr holds no INFO or DEBUG log line.
no_info_on_stderr() { ! grep -Eq ' (INFO |DEBUG) ' "$WORK/$1.err"; }
