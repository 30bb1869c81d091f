#!/usr/bin/env bash
# Event time at sources (issue #9, step 1): a session cluster of real
# processes (a JobManager, two TaskManagers of 2 slots) runs
# jobs/event_time.so over two text files of "<millis><TAB><key>" lines
# whose timestamps are out of order by at most 99 ms within a file:
#   A  out-of-orderness 100 ms, p=2, watermarks every 1 ms: every record
#      reaches the keyed process function on the other side of the network
#      with its own timestamp, none behind the watermark, and the (key,
#      millis) pairs equal the input's;
#   B  out-of-orderness 0 on the same files: records do fall behind the
#      watermark (watermarks cross processes and hold back nothing they
#      should not).
# And on the local cluster: a negative out-of-orderness refused, naming it;
# a line without a timestamp failing the job with the assigner's message.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
source "$(dirname "$0")/cluster.sh"
JOB_SO=$JOBS/event_time.so
[ -e "$JOB_SO" ] || { echo "missing $JOB_SO (build the project first)" >&2; exit 1; }

# Within a file (%.0f: mawk's %d stops at 2^31 - 1): line i has millis 1700000000000 + 2 i + (i * 7919 % 100),
# at most 99 ms behind the largest before it.
for f in a b; do
	awk -v seed=$([ $f = a ] && echo 1 || echo 3) 'BEGIN {
		for (i = 0; i < 20000; i++)
			printf "%.0f\t%s%d\n", 1700000000000 + 2 * i + ((i * 7919 + seed) % 100), "k", i % 17
	}' >"$WORK/$f.txt"
done
sort "$WORK/a.txt" "$WORK/b.txt" | awk -F'\t' '{print $2 "\t" $1}' | sort >"$WORK/want"

start_jm jm
start_tm tm-a
start_tm tm-b
check "/overview reports 2 TaskManagers" wait_overview 2 20
upload "$JOB_SO"

run_case() { # run_case TAG BOUND: output lines in $WORK/TAG.got
	run_jar "$JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--out-of-orderness\", \"$2\", \"--output\", \"$WORK/out-$1\", \"$WORK/a.txt\", \"$WORK/b.txt\"], \"flinkConfiguration\": {\"pipeline.auto-watermark-interval\": \"1 ms\"}}" ||
		{ fail "$1: not submitted"; return 1; }
	wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 90 || true
	check "$1: the job FINISHED" test "$STATE" = FINISHED
	cat "$WORK/out-$1"/part-* >"$WORK/$1.got"
}

run_case A 100
check "A: every record arrived once" test "$(wc -l <"$WORK/A.got")" -eq 40000
check "A: each record kept its timestamp across the network" \
	test "$(awk -F'\t' '$2 != $3' "$WORK/A.got" | wc -l)" -eq 0
check "A: no record within the bound is behind the watermark" \
	test "$(awk -F'\t' '$4 != 0' "$WORK/A.got" | wc -l)" -eq 0
check "A: the (key, millis) pairs are the input's" \
	diff -q "$WORK/want" <(cut -f1,2 "$WORK/A.got" | sort)

run_case B 0
LATE=$(awk -F'\t' '$4 == 1' "$WORK/B.got" | wc -l)
echo "B: $LATE of 40000 records behind the watermark with no out-of-orderness allowed"
check "B: records fall behind a watermark that allows no disorder" test "$LATE" -gt 0
check "B: every record arrived once" test "$(wc -l <"$WORK/B.got")" -eq 40000

run_flinc neg "$JOB_SO" --out-of-orderness -5 --output "$WORK/out-neg" "$WORK/a.txt"
check "a negative out-of-orderness is refused" test "$RC" -ne 0
check "... naming it" grep -q 'out_of_orderness_ms of .* must be >= 0 ms, not -5' "$WORK/neg.err"

printf '1700000000000\tk1\nnot-a-time\tk2\n' >"$WORK/bad.txt"
run_flinc bad "$JOB_SO" --out-of-orderness 10 --output "$WORK/out-bad" "$WORK/bad.txt"
check "a line without a timestamp fails the job" test "$RC" -ne 0
check "... with the assigner's message" grep -q 'timestamp assigner et_timestamp() failed: no timestamp at the start of a line (not-a-time)' "$WORK/bad.err"

stop_all
logs_clean "$WORK"/jm.log "$WORK"/tm-*.log "$WORK"/neg.err "$WORK"/bad.err
it_finish
