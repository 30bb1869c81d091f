#!/usr/bin/env bash
# The text file source in checkpoints (issue #8): a session cluster of real
# processes (a JobManager, two TaskManagers of 2 slots) runs
# jobs/text_count.so (lines of two files of 3 and 2 MB → first word →
# keyed count, printed) and:
#   - checkpoints it every 150 ms while it reads (paced): they complete,
#     none declined, and a savepoint's _metadata holds the splits left;
#   - restores that savepoint at parallelism 3, then at 1: each time every
#     word's final count equals `cut | sort | uniq -c` of the inputs (counts
#     only grow, so a word's largest printed count is its final one; a
#     split read twice would push it above, a lost one below);
#   - recovers a job whose map fails once in the middle of a split from its
#     latest checkpoint, with the same exact counts;
#   - declines every checkpoint of a job reading a FIFO, naming the input
#     and why, at once even while the FIFO is idle, and still counts it
#     exactly;
#   - fails a restore whose input changed size since the savepoint, naming
#     the file.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
source "$(dirname "$0")/cluster.sh"
JOB_SO=$JOBS/text_count.so
[ -e "$JOB_SO" ] || { echo "missing $JOB_SO (build the project first)" >&2; exit 1; }

start_jm jm -D execution.checkpointing.dir="file://$WORK/ckp" -D restart-strategy.exponential-delay.initial-backoff=100ms
export CKP_FAIL_MARKER=$WORK/failed-once # read by the job's map in the TaskManagers
start_tm tm-a
start_tm tm-b
check "/overview reports 2 TaskManagers" wait_overview 2 20
upload "$JOB_SO"
TC_JAR=$JAR

# Lines "w<key> <line> <padding>" (50 keys, 20 to 80 bytes); one line of a,
# 2.5 MiB in (the middle of its third 1 MiB split), also holds FAILONCE.
IN_A=$WORK/in-a.txt
IN_B=$WORK/in-b.txt
gen() { # gen FILE BYTES SEED
	awk -v max="$2" -v seed="$3" 'BEGIN {
		pad = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
		while (bytes < max) {
			n++
			line = sprintf("w%d %d", (n * 7919 + seed) % 50, n)
			if (!failed && seed == 1 && bytes > 2.5 * 1048576) { line = line " FAILONCE"; failed = 1 }
			line = line " " substr(pad, 1, (n * 31) % 60)
			print line
			bytes += length(line) + 1
		}
	}' >"$1"
}
gen "$IN_A" 3000000 1
gen "$IN_B" 2000000 2
cut -d' ' -f1 "$IN_A" "$IN_B" | sort | uniq -c | awk '{ print $2, $1 }' | sort >"$WORK/expected"
cut -d' ' -f1 "$IN_B" | sort | uniq -c | awk '{ print $2, $1 }' | sort >"$WORK/expected-b"
KEYS=$(wc -l <"$WORK/expected")

declare -A MARK
mark_logs() { local t; for t in tm-a tm-b; do MARK[$t]=$(wc -l <"$WORK/$t.log"); done; }
# finals FILE: per word, the largest count the TaskManagers printed since mark_logs.
finals() {
	local t
	for t in tm-a tm-b; do tail -n +$((MARK[$t] + 1)) "$WORK/$t.log"; done |
		sed -nE 's/^([0-9]+> )?(w[0-9]+)\t([0-9]+)$/\2 \3/p' |
		awk '{ if (!($1 in m) || $2 > m[$1]) m[$1] = $2 } END { for (k in m) print k, m[k] }' |
		sort >"$1"
}
# exact NAME FILE [EXPECTED]: the finals are the reference.
exact() {
	local want=${3:-$WORK/expected}
	if cmp -s "$want" "$2"; then
		pass "$1: every one of the $(wc -l <"$want") words' counts is exact"
	else
		fail "$1: counts differ from the inputs' (diff expected got)" "$(diff "$want" "$2" | head -8)"
	fi
}
# run_and_finish NAME JSON: run, wait FINISHED.
run_and_finish() {
	run_jar "$TC_JAR" "$2" || { fail "$1: not submitted"; return 1; }
	if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 120 && [ "$STATE" = FINISHED ]; then
		pass "$1: FINISHED"
	else
		fail "$1: ended $STATE" "$(curl -s "http://127.0.0.1:$REST_PORT/jobs/$JOB/exceptions" | head -c 600)"
		return 1
	fi
}

# ------------------------- checkpoints while it reads; a savepoint, p=2
mark_logs
run_jar "$TC_JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--paced\", \"$IN_A\", \"$IN_B\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"150 ms\"}}"
FIRST=$JOB
wait_state "$JOB" RUNNING 20 || fail "the first job is not RUNNING: $STATE"
wait_count "/jobs/$JOB/checkpoints" .counts.completed 3 30 || true
if [ "$COUNT" -ge 3 ] && [ "$(json '.counts.failed')" = 0 ] &&
	[ "$(json '.latest.completed.num_acknowledged_subtasks')" = 4 ]; then
	pass "checkpoints of a job reading text files complete while it reads ($COUNT so far), none declined"
else
	fail "checkpoints of the text job: $COUNT completed" "$(head -c 900 "$WORK/api.out")"
fi
api POST "/jobs/$JOB/savepoints" -H 'Content-Type: application/json' \
	-d "{\"target-directory\": \"$WORK/sp\", \"cancel-job\": true}"
TRIGGER=$(json '."request-id"')
wait_savepoint "$FIRST" "$TRIGGER" 20 || true
check "a savepoint with cancel-job completes" test "$STATUS,$(json '.operation."failure-cause" // "none"')" = "COMPLETED,none"
wait_state "$FIRST" CANCELED 20 || fail "the first job did not cancel: $STATE"
# Each split element names its input: at least one per subtask still reading.
nsplits=$(grep -ao "$WORK/in-[ab].txt" "$SP/_metadata" | wc -l)
if [ "$nsplits" -ge 2 ]; then
	pass "the savepoint's _metadata holds the $nsplits splits left to read"
else
	fail "the savepoint's _metadata names $nsplits splits" "$(od -c "$SP/_metadata" | head -20)"
fi
finals "$WORK/first"
if ! cmp -s "$WORK/expected" "$WORK/first"; then
	pass "the first job stopped in the middle (its counts are not the totals yet)"
else
	fail "the first job read everything before its savepoint"
fi

# ------------------------------------------------ restored at p=3, then p=1
mark_logs
if run_and_finish "restored at parallelism 3" "{\"parallelism\": 3, \"programArgsList\": [\"$IN_A\", \"$IN_B\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP\"}}"; then
	finals "$WORK/p3"
	exact "restored at parallelism 3" "$WORK/p3"
fi
n=$(for t in tm-a tm-b; do tail -n +$((MARK[$t] + 1)) "$WORK/$t.log"; done | grep -c "source '.*' resumes [0-9]* split(s) from checkpoint" || true)
check "each of the 3 source subtasks resumes its share of the splits ($n)" test "$n" = 3
mark_logs
if run_and_finish "restored at parallelism 1" "{\"parallelism\": 1, \"programArgsList\": [\"$IN_A\", \"$IN_B\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP\"}}"; then
	finals "$WORK/p1"
	exact "restored at parallelism 1" "$WORK/p1"
fi

# ----------------------------------------- recovery from the latest checkpoint
mark_logs
if run_and_finish "a map failing once in the middle of a split" "{\"parallelism\": 2, \"programArgsList\": [\"--fail-once\", \"$IN_A\", \"$IN_B\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"150 ms\"}}"; then
	finals "$WORK/recovered"
	exact "recovered from the latest checkpoint after a failure" "$WORK/recovered"
fi
check "the map did fail once" test -e "$WORK/failed-once"
grep -q "($JOB) restores checkpoint [0-9]* from $WORK/ckp/$JOB/chk-" "$WORK/jm.log" &&
	pass "the restarted attempt restores the latest checkpoint" ||
	fail "no checkpoint restore for the restarted attempt" "$(grep -i restor "$WORK/jm.log" | tail -3)"

# ------------------------------------------------- a FIFO declines, exactly
FIFO=$WORK/fifo
mkfifo "$FIFO"
# The writer opens the FIFO when the source does, stays idle 2 s, then
# writes b and closes it.
{ sleep 2; cat "$IN_B"; } >"$FIFO" &
WRITER=$!
mark_logs
run_jar "$TC_JAR" "{\"parallelism\": 1, \"programArgsList\": [\"$FIFO\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"150 ms\", \"execution.checkpointing.tolerable-failed-checkpoints\": \"1000\"}}"
wait_count "/jobs/$JOB/checkpoints" .counts.failed 2 10 || true
if [ "$COUNT" -ge 2 ] && [ "$(json '.counts.completed')" = 0 ] &&
	json '.latest.failed.failure_message' | grep -qF "input '$FIFO' is a stream" &&
	grep -qF "input '$FIFO' is a stream (a FIFO, a device, a /proc file): it cannot be read again from a position" "$WORK/tm-a.log" "$WORK/tm-b.log"; then
	pass "a FIFO input: each checkpoint declined naming it and why ($COUNT while it was idle)"
else
	fail "FIFO checkpoints: $COUNT failed" "$(json .latest.failed)"
fi
if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 60 && [ "$STATE" = FINISHED ]; then
	finals "$WORK/fifo-counts"
	exact "the FIFO job, declining its checkpoints" "$WORK/fifo-counts" "$WORK/expected-b"
else
	fail "the FIFO job ended $STATE"
fi
kill "$WRITER" 2>/dev/null || true
wait "$WRITER" 2>/dev/null || true

# ------------------------------------- an input changed since the savepoint
echo "w1 appended" >>"$IN_A"
echo "w1 appended" >>"$IN_B"
run_jar "$TC_JAR" "{\"parallelism\": 2, \"programArgsList\": [\"$IN_A\", \"$IN_B\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP\"}}"
if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 30 && [ "$STATE" = FAILED ]; then
	api GET "/jobs/$JOB/exceptions"
	if json '."root-exception"' | grep -qE "restoring from checkpoint [0-9]+: source '.*': file '$WORK/in-[ab].txt' had [0-9]+ bytes at checkpoint [0-9]+, [0-9]+ when this job was built"; then
		pass "a restore whose input changed size fails, naming the file"
	else
		fail "the changed input's failure does not name it" "$(head -c 600 "$WORK/api.out")"
	fi
else
	fail "a restore with a changed input: the job ended $STATE"
fi

stop_all
logs_clean "$WORK"/jm.log "$WORK"/tm-*.log
it_finish
