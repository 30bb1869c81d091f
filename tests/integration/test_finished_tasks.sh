#!/usr/bin/env bash
# Checkpoints after tasks finish (FLIP-147), with `flinc run --local -p 2`
# and jobs/mixed_end.so: a bounded source that finishes at once and a long
# one, unioned into a keyed running sum written by the exactly-once text
# sink, checkpoints every 100 ms.
#   A  checkpoints go on once the bounded source finished; at the end each
#      sink task waits for a checkpoint to commit its output, then
#      finishes; the committed output holds every update exactly once;
#   B  a failure after that: the job restores a checkpoint taken after the
#      bounded source finished, which starts with nothing to read (0
#      splits), and the output is still exact;
#   C  execution.checkpointing.checkpoints-after-tasks-finish: false:
#      Flink's old rule, no checkpoint once a task finished, no waiting;
#   D  an interval of an hour: the job still ends at once, its final
#      checkpoint due when the last source finished.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
SO=$JOBS/mixed_end.so
[ -e "$SO" ] || { echo "missing $SO (build the project first)" >&2; exit 1; }
IT_TIMEOUT=120
NA=1000 NB=30000 M=7

# want NB: every update of every key, for both sources (their keys are
# apart), in $WORK/want-NB.
want() {
	awk -v na=$NA -v nb="$1" -v m=$M 'BEGIN {
		for (o = 0; o < na; o++) { s[o % m] += o; print s[o % m] "\t" o % m }
		for (o = 0; o < nb; o++) { k = m + o % m; s[k] += o; print s[k] "\t" k }
	}' | sort >"$WORK/want-$1"
}
want $NB
want 3000

run_case() { # run_case TAG [flinc options...]: output sorted in $WORK/TAG.got
	local tag=$1
	shift
	rm -rf "$WORK/out-$tag"
	run_flinc "$tag" -p 2 -D execution.checkpointing.dir="file://$WORK/ckp-$tag" "$@" \
		"$SO" --count-a $NA --count-b $NB --rate-b 10000 --mod $M --text "$WORK/out-$tag"
	check_finished "$tag"
	cat "$WORK/out-$tag"/part-* 2>/dev/null | sort >"$WORK/$tag.got" || true
	same_file "$tag: every update of every key exactly once" "$WORK/want-$NB" "$WORK/$tag.got"
}

# completed_after TAG: checkpoints completed after the bounded source finished.
completed_after() {
	awk '/task=Source: Bounded \(1\/1\) switched from RUNNING to FINISHED/ { f = 1 }
	     f && /Completed checkpoint [0-9]+ of job/ { n++ } END { print n + 0 }' "$(log_of "$1")"
}

run_case A -D execution.checkpointing.interval=100ms
n=$(completed_after A)
check "A: checkpoints went on after the bounded source finished ($n)" test "$n" -ge 5
check "A: both sink tasks waited for a checkpoint past their end of input, then finished" \
	test "$(grep -c "end of input: waits for a checkpoint to commit its output" "$(log_of A)")/$(grep -Ec "checkpoint [0-9]+ committed its output: it finishes" "$(log_of A)")" = 2/2

# B on a session cluster of processes (the local run has no restarts).
source "$(dirname "$0")/cluster.sh"
export MIXED_FAIL_AT=20000 MIXED_FAIL_MARKER="$WORK/failed-once"
start_jm jm -D execution.checkpointing.dir="file://$WORK/ckp-B"
start_tm tm-0
unset MIXED_FAIL_AT MIXED_FAIL_MARKER
check "B: /overview reports 1 TaskManager" wait_overview 1 20
upload "$SO"
run_jar "$JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--count-a\", \"$NA\", \"--count-b\", \"$NB\", \"--rate-b\", \"10000\", \"--mod\", \"$M\", \"--text\", \"$WORK/out-B\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"100 ms\", \"restart-strategy.type\": \"fixed-delay\", \"restart-strategy.fixed-delay.attempts\": \"1\", \"restart-strategy.fixed-delay.delay\": \"100 ms\"}}"
wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 90 || true
check "B: the job FINISHED after its restart" test "$STATE" = FINISHED
check "B: the long source failed once" test -e "$WORK/failed-once"
cat "$WORK/out-B"/part-* 2>/dev/null | sort >"$WORK/B.got" || true
same_file "B: every update of every key exactly once" "$WORK/want-$NB" "$WORK/B.got"
# Restored from a checkpoint that recorded the bounded source finished: it
# resumes no split (one from before its end would resume its range; there is
# none, it ends before the first checkpoint).
check "B: the restart restored a checkpoint taken after the bounded source finished ($(grep -o "source 'Source: Bounded' resumes [0-9]* split(s) from checkpoint [0-9]*" "$WORK/tm-0.log" | tail -n 1))" \
	grep -Eq "source 'Source: Bounded' resumes 0 split\(s\) from checkpoint [0-9]+" "$WORK/tm-0.log"
stop_all

run_case C -D execution.checkpointing.interval=100ms -D execution.checkpointing.checkpoints-after-tasks-finish=false
check "C: no checkpoint completed once a task finished ($(completed_after C))" test "$(completed_after C)" = 0
check "C: no task waited for a final checkpoint" test "$(grep -c "waits for a checkpoint" "$(log_of C)")" = 0

NB=3000 run_case D -D execution.checkpointing.interval=1h
check "D: with an interval of an hour the sinks committed at the checkpoint due when the sources finished" \
	grep -Eq "checkpoint 1 committed its output: it finishes" "$(log_of D)"

logs_clean "$WORK"/*.log "$WORK"/*.err
it_finish
