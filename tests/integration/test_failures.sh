#!/usr/bin/env bash
# Failures and bad input: each gives a non-zero exit, one clear message
# naming what is wrong, no hang, and no sanitizer report (ASan/UBSan/LSan).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
WC=$EXAMPLES/wordcount.so
IT_TIMEOUT=30

# expect_error TAG WANT_RC PATTERN...: after run_flinc/plan_flinc TAG, the exit
# code is WANT_RC ("nonzero": any failure that is neither a timeout nor a
# signal) and stderr matches every extended regex PATTERN.
expect_error() {
	local tag=$1 want=$2
	shift 2
	local ok=1 why=()
	if [ "$want" = nonzero ]; then
		if [ "$RC" -eq 0 ] || [ "$RC" -eq 124 ] || [ "$RC" -ge 128 ]; then
			ok=0 why+=("exit $RC, expected a failure exit (not 0, timeout or signal)")
		fi
	elif [ "$RC" -ne "$want" ]; then
		ok=0 why+=("exit $RC, expected $want")
	fi
	local pat
	for pat in "$@"; do
		if ! grep -Eq -- "$pat" "$WORK/$tag.err"; then
			ok=0 why+=("stderr lacks /$pat/")
		fi
	done
	if ! sanitizer_clean "$WORK/$tag.err"; then
		ok=0 why+=("sanitizer report: $(grep -Em1 'Sanitizer|runtime error' "$WORK/$tag.err")")
	fi
	if [ $ok = 1 ]; then
		pass "$tag: exit $RC, message: $(grep -Ev ' (INFO|DEBUG) ' "$WORK/$tag.err" | tail -n 1 | cut -c1-160)"
	else
		fail "$tag" "${why[@]}" "--- stderr (last lines):" "$(tail -n 4 "$WORK/$tag.err")"
	fi
}

# --------------------------------------------- a user function that fails
# An unbounded generator (2 subtasks) → map failing at offset 5000 → discard
# (2 subtasks): the job FAILS with the message and the operator/function
# names, the sources (which never end by themselves) are cancelled.
for tms in 1 2; do
	tag=fail-map-${tms}tm
	run_flinc "$tag" -D local.number-taskmanager=$tms "$JOBS/fail_map.so" --fail-at 5000
	expect_error "$tag" 1 \
		"^Job 'FailMap' \([0-9a-f]+\) FAILED: .*bad record 5000" \
		"Checked Map" "fail_map_checked_map"
	check "$tag: the final status is the last stderr line" failed_line "$tag"
	check "$tag: both source subtasks were cancelled" \
		test "$(grep -Ec 'Source: Generator \([12]/2\) switched (from [A-Z]+ )?to CANCEL(ED|ING)' "$(log_of "$tag")")" -ge 2
	check "$tag: both sink subtasks were cancelled" \
		test "$(grep -Ec 'Sink: Discard \([12]/2\) switched (from [A-Z]+ )?to CANCEL(ED|ING)' "$(log_of "$tag")")" -ge 2
	check "$tag: no task FINISHED: all were cancelled or failed" \
		bash -c "! grep -Eq 'task=.*switched (from [A-Z]+ )?to FINISHED' '$(log_of "$tag")'"
done

# The failure path across TaskManagers, repeated: shutting down after a
# failed job must never hang (a failing job ends in milliseconds, so 20 s is
# generous). Stops at the first bad run.
IT_TIMEOUT=20
bad_runs=0
for i in $(seq 1 10); do
	run_flinc fail-map-repeat -D local.number-taskmanager=2 "$JOBS/fail_map.so" --fail-at 3000
	if [ "$RC" -ne 1 ] || ! failed_line fail-map-repeat || ! sanitizer_clean "$WORK/fail-map-repeat.err"; then
		bad_runs=$i
		break
	fi
done
if [ "$bad_runs" = 0 ]; then
	pass "fail-map-repeat: 10 failing runs on 2 TaskManagers each exited 1 with FAILED, no hang"
else
	fail "fail-map-repeat: run $bad_runs exited $RC (124 = hung after the job FAILED)" \
		"$(tail -n 3 "$WORK/fail-map-repeat.err" | cut -c1-200)"
fi
IT_TIMEOUT=30

# ------------------------------------------------------------ bad job .so
run_flinc static-fn "$JOBS/static_fn.so"
expect_error static-fn 1 "no exported symbol name" "static"
plan_flinc static-fn-plan "$JOBS/static_fn.so"
expect_error static-fn-plan nonzero "no exported symbol name"

run_flinc no-main "$JOBS/no_main.so"
expect_error no-main nonzero "no_main\.so.*has no main\(\)"

run_flinc missing-so "$WORK/does-not-exist.so"
expect_error missing-so nonzero "does-not-exist\.so.*No such file"

echo "this is not an ELF file" >"$WORK/garbage.so"
run_flinc garbage-so "$WORK/garbage.so"
expect_error garbage-so nonzero "cannot load job .*garbage\.so"

run_flinc no-execute "$JOBS/no_execute.so"
expect_error no-execute nonzero "without calling fl_execute"

# ------------------------------------------------------------ bad options
run_flinc p-zero -p 0 "$WC"
expect_error p-zero nonzero "-p .*'0'"
run_flinc p-abc -p abc "$WC"
expect_error p-abc nonzero "-p .*'abc'"
run_flinc p-max -D pipeline.max-parallelism=2 -p 4 "$WC"
expect_error p-max nonzero "parallelism 4 .*max parallelism 2"

# -------------------------------------------------------- high parallelism
# Network buffers come from a fixed pool (64 MiB locally, as in Flink's
# MiniCluster): a job whose channels need more is refused at deployment,
# at once, with Flink's message and the numbers, instead of deploying for
# minutes or growing memory with the square of the parallelism.
IT_TIMEOUT=20
run_flinc p512 -p 512 "$WC"
expect_error p512 1 "Insufficient number of network buffers: required [0-9]+, but only [0-9]+ available" \
	"currently set to 2048 of 32768 bytes each" "taskmanager\.memory\.network\.max"
# The same job fits once the pool is sized for it.
run_flinc p32-pool -p 32 -D taskmanager.memory.network.max=256mb "$WC" --mode batch
check_finished p32-pool
IT_TIMEOUT=30

# ---------------------------------------------------------- missing input
run_flinc missing-input "$WC" --input "$WORK/no-such-input.txt" --mode batch
expect_error missing-input 1 "FAILED" "$WORK/no-such-input\.txt"

# ---------------------------------------------------------- configuration
# Malformed YAML: an unterminated quoted scalar; the message has file:line:column.
printf 'parallelism.default: 2\nrest:\n  port: "8081\n' >"$WORK/unterminated.yaml"
run_flinc yaml-syntax -c "$WORK/unterminated.yaml" "$WC"
expect_error yaml-syntax nonzero "unterminated\.yaml:[0-9]+:[0-9]+"
# Malformed YAML: a mapping inside a plain scalar; libyaml reports
# "mapping values are not allowed in this context" at 2:14. The syntax error
# must win over validating the half-parsed value '2 taskmanager' of the key
# before it (values are only meaningful once the file has parsed).
printf 'parallelism.default: 2\n  taskmanager: 1\n' >"$WORK/indent.yaml"
run_flinc yaml-indent -c "$WORK/indent.yaml" "$WC"
expect_error yaml-indent nonzero "indent\.yaml:2:14: mapping values are not allowed"
# Deep flow nesting costs libyaml time quadratic in the depth (a 1 MiB file
# of '{' ran for minutes): refused at the 65th level, well within the timeout.
IT_TIMEOUT=10
head -c 1048000 /dev/zero | tr '\0' '{' >"$WORK/deep.yaml"
run_flinc yaml-deep -c "$WORK/deep.yaml" "$WC"
expect_error yaml-deep nonzero "deep\.yaml:1:65: maps nested too deeply \(more than 64 levels\)"
IT_TIMEOUT=30
run_flinc yaml-missing -c "$WORK/no-such.yaml" "$WC"
expect_error yaml-missing nonzero "no-such\.yaml"

# Ill-typed values name the key, from -D and from a file (with its position).
run_flinc bad-value-D -D taskmanager.numberOfTaskSlots=x "$WC"
expect_error bad-value-D nonzero "'taskmanager\.numberOfTaskSlots'" "'x'"
printf 'taskmanager:\n  numberOfTaskSlots: many\n' >"$WORK/badvalue.yaml"
run_flinc bad-value-file -c "$WORK/badvalue.yaml" "$WC"
expect_error bad-value-file nonzero "'taskmanager\.numberOfTaskSlots'" "badvalue\.yaml:2:[0-9]+" "'many'"
run_flinc bad-mode -D execution.runtime-mode=sideways "$WC"
expect_error bad-mode nonzero "'execution\.runtime-mode'" "sideways"
# A value out of range names both bounds; a key given twice in a file names
# both positions.
run_flinc slots-range -D taskmanager.numberOfTaskSlots=2147483647 "$WC"
expect_error slots-range nonzero "'taskmanager\.numberOfTaskSlots'" "expected an integer between 1 and 32768"
run_flinc timeout-range -D execution.buffer-timeout=9223372036854775807ms "$WC"
expect_error timeout-range nonzero "'execution\.buffer-timeout'" "expected a duration between 0 ms and 365 d"
printf 'parallelism.default: 2\nparallelism:\n  default: 3\n' >"$WORK/dup.yaml"
run_flinc yaml-duplicate -c "$WORK/dup.yaml" "$WC"
expect_error yaml-duplicate nonzero "dup\.yaml:3:3: duplicate key 'parallelism\.default' \(first set at [^ ]*dup\.yaml:1:1\)"

# An unknown key is a warning naming the nearest known key; the job still runs.
run_flinc unknown-key -D taskmanager.numberOfTaskSlot=2 "$WC" --mode batch
if [ "$RC" -eq 0 ] && finished unknown-key &&
	grep -Eq "WARN .*'taskmanager\.numberOfTaskSlot'.*did you mean 'taskmanager\.numberOfTaskSlots'" "$WORK/unknown-key.err" &&
	sanitizer_clean "$WORK/unknown-key.err"; then
	pass "unknown-key: warning with 'did you mean', job FINISHED"
else
	fail "unknown-key: expected a 'did you mean' warning and FINISHED (exit $RC)" "$(grep -v ' INFO ' "$WORK/unknown-key.err" | tail -n 3)"
fi

it_finish
