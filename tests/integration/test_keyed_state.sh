#!/usr/bin/env bash
# The keyed process function and keyed state (issue #8): a session cluster
# of real processes (a JobManager, two TaskManagers of 2 slots, TTL on the
# fake clock FLINC_FAKE_CLOCK_FILE) runs jobs/keyed_state.so, whose process
# function keeps a ValueState (rows and raw bytes), a ListState, a MapState,
# a ReducingState, an AggregatingState and a ValueState with a TTL of 60 s
# per key and prints them per record. Every key's last line (largest count)
# must equal a model computed here with awk, field by field:
#   A  p=2, heap, clock 1000: a savepoint in the middle (after every key
#      was printed), the job cancelled;
#   B  that savepoint restored at p=3 into LMDB, clock 2000: exact, the
#      TTL state alive (since 0);
#   C  restored at p=1, clock 66000 (every TTL entry expired): exact, and
#      every key's TTL state found expired exactly once, at its first
#      record (since = the restored count, on every line);
#   D  restored at p=2, clock 66000, --half (the TTL state read only for
#      keys below 25): a second savepoint in the middle;
#   E  that one restored at clock 1000: keys from 25 on find no TTL state
#      (its expired entries were left out of the savepoint), keys below 25
#      find what D wrote;
#   F  a fresh run on LMDB with checkpoints every 200 ms whose source fails
#      once: recovered, exact;
#   G  the savepoint restored into a program that declares "stats" with
#      another type: FAILED naming the state, the operator and the field.
# And on the local cluster: a state declared as two kinds, a process
# function that fails, fl_process on an unkeyed stream, a key too long for
# LMDB, keyed state asked for in a map chained after the process function,
# each refused with a message naming what is wrong.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
source "$(dirname "$0")/cluster.sh"
JOB_SO=$JOBS/keyed_state.so
[ -e "$JOB_SO" ] || { echo "missing $JOB_SO (build the project first)" >&2; exit 1; }
N=40000
M=50

CLOCK=$WORK/clock
set_clock() { echo "$1" >"$CLOCK.tmp" && mv "$CLOCK.tmp" "$CLOCK"; }
set_clock 1000
export FLINC_FAKE_CLOCK_FILE=$CLOCK
export CKP_FAIL_MARKER=$WORK/failed-once

start_jm jm -D execution.checkpointing.dir="file://$WORK/ckp" -D restart-strategy.exponential-delay.initial-backoff=100ms
mkdir -p "$WORK/state"
start_tm tm-a -D "taskmanager.state.local.root-dirs=$WORK/state"
start_tm tm-b -D "taskmanager.state.local.root-dirs=$WORK/state"
check "/overview reports 2 TaskManagers" wait_overview 2 20
upload "$JOB_SO"
KS_JAR=$JAR

# The model: per key, after all its offsets 0..N-1 (offset % M == key):
# key count sum recent mods max avg since prev.
awk -v n=$N -v m=$M 'BEGIN {
	OFS = "\t"
	for (k = 0; k < m; k++) {
		c = 0; s = 0; split("", cnt); split("", offs)
		for (o = k; o < n; o += m) { offs[++c] = o; s += o; cnt[o % 4]++ }
		recent = ""
		for (i = (c > 3 ? c - 2 : 1); i <= c; i++) recent = recent (recent == "" ? "" : ",") offs[i]
		mods = ""
		for (j = 0; j < 4; j++) if (cnt[j]) mods = mods (mods == "" ? "" : " ") j ":" cnt[j]
		print k, c, s, recent, mods, offs[c], int(s / c), 0, (c > 1 ? offs[c - 1] : -1)
	}
}' >"$WORK/expected"
cut -f1-7,9 "$WORK/expected" >"$WORK/expected-nottl"

T=$'\t'
declare -A MARK
mark_logs() { local t; for t in tm-a tm-b; do MARK[$t]=$(wc -l <"$WORK/$t.log"); done; }
# lines FILE: the job's printed lines since mark_logs, in each log's order.
lines() {
	local t
	for t in tm-a tm-b; do tail -n +$((MARK[$t] + 1)) "$WORK/$t.log"; done |
		sed -E 's/^[0-9]+> //' |
		grep -E "^[0-9]+${T}[0-9]+${T}[0-9]+${T}[0-9,]*${T}[0-9: ]*${T}-?[0-9]+${T}-?[0-9]+${T}-?[0-9]+${T}-?[0-9]+\$" >"$1" || true
}
# finals LINES OUT: per key the line with the largest count, by key.
finals() {
	awk -F'\t' '{ if (!($1 in c) || $2 + 0 > c[$1]) { c[$1] = $2 + 0; l[$1] = $0 } }
		END { for (k in l) print l[k] }' "$1" | sort -n >"$2"
}
exact() { # exact NAME EXPECTED ACTUAL
	if cmp -s "$2" "$3"; then
		pass "$1: every one of the $M keys' states is exact"
	else
		fail "$1: states differ from a run that never stopped" "$(diff "$2" "$3" | head -8)"
	fi
}
# all_keys_printed SECONDS: until each of the M keys has a line since mark_logs.
all_keys_printed() {
	for _ in $(seq $(($1 * 10))); do
		lines "$WORK/probe"
		[ "$(cut -f1 "$WORK/probe" | sort -u | wc -l)" -ge "$M" ] && return 0
		sleep 0.1
	done
	return 1
}
run_and_finish() { # run_and_finish NAME JSON
	run_jar "$KS_JAR" "$2" || { fail "$1: not submitted"; return 1; }
	if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 90 && [ "$STATE" = FINISHED ]; then
		pass "$1: FINISHED"
	else
		fail "$1: ended $STATE" "$(curl -s "http://127.0.0.1:$REST_PORT/jobs/$JOB/exceptions" | head -c 600)"
		return 1
	fi
}
# savepoint_cancel NAME: a savepoint of $JOB into $WORK/NAME, the job
# cancelled; its path in SP.
savepoint_cancel() {
	local job=$JOB trigger
	api POST "/jobs/$job/savepoints" -H 'Content-Type: application/json' \
		-d "{\"target-directory\": \"$WORK/$1\", \"cancel-job\": true}"
	trigger=$(json '."request-id"')
	wait_savepoint "$job" "$trigger" 30 || true
	check "$1: the savepoint completes" test "$STATUS,$(json '.operation."failure-cause" // "none"')" = "COMPLETED,none"
	wait_state "$job" CANCELED 20 || fail "$1: the job did not cancel: $STATE"
}
ARGS="\"--count\", \"$N\""

# ----------------------------------------- A: a savepoint in the middle, p=2
mark_logs
run_jar "$KS_JAR" "{\"parallelism\": 2, \"programArgsList\": [$ARGS, \"--rate\", \"8000\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"300 ms\"}}"
wait_state "$JOB" RUNNING 20 || fail "A: the job is not RUNNING: $STATE"
wait_count "/jobs/$JOB/checkpoints" .counts.completed 1 20 || fail "A: no checkpoint completed"
check "A: every key printed before the savepoint" all_keys_printed 20
savepoint_cancel sp1
SP1=$SP
lines "$WORK/a.lines"
finals "$WORK/a.lines" "$WORK/a.finals"
if [ "$(wc -l <"$WORK/a.finals")" = "$M" ] && ! cmp -s "$WORK/expected" "$WORK/a.finals"; then
	pass "A: the job stopped in the middle (its states are not the totals yet)"
else
	fail "A: $(wc -l <"$WORK/a.finals") keys printed, or it ran to the end" "$(head -3 "$WORK/a.finals")"
fi

# ------------------------------------------------ B: p=3, into LMDB, alive
set_clock 2000
mark_logs
if run_and_finish "B: restored at parallelism 3 into LMDB" "{\"parallelism\": 3, \"programArgsList\": [$ARGS, \"--rate\", \"0\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP1\", \"state.backend.type\": \"lmdb\"}}"; then
	lines "$WORK/b.lines"
	finals "$WORK/b.lines" "$WORK/b.finals"
	exact "B: restored at parallelism 3 into LMDB, TTL state alive" "$WORK/expected" "$WORK/b.finals"
fi

# since_is_first_count LINES KEYS_FROM: every line of a key >= KEYS_FROM has
# since = the count of the key's first line - 1, above 0; prints offenders.
since_is_first_count() {
	awk -F'\t' -v from="$2" '$1 >= from { if (!($1 in f)) f[$1] = $2
		if ($8 != f[$1] - 1 || $8 <= 0) { print; bad++ } } END { exit bad > 0 }' "$1" | head -3
}

# ------------------------------------------ C: p=1, every TTL entry expired
set_clock 66000
mark_logs
if run_and_finish "C: restored at parallelism 1, TTL expired" "{\"parallelism\": 1, \"programArgsList\": [$ARGS, \"--rate\", \"0\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP1\"}}"; then
	lines "$WORK/c.lines"
	finals "$WORK/c.lines" "$WORK/c.finals"
	cut -f1-7,9 "$WORK/c.finals" >"$WORK/c.nottl"
	exact "C: restored at parallelism 1 (all but the TTL state)" "$WORK/expected-nottl" "$WORK/c.nottl"
	if bad=$(since_is_first_count "$WORK/c.lines" 0) && [ -z "$bad" ]; then
		pass "C: every key's TTL state expired once, at its first record after the restore"
	else
		fail "C: TTL state not expired as it should" "$bad"
	fi
fi

# -------------------------- D: --half, a second savepoint with expired entries
mark_logs
run_jar "$KS_JAR" "{\"parallelism\": 2, \"programArgsList\": [$ARGS, \"--rate\", \"2000\", \"--half\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP1\", \"execution.checkpointing.interval\": \"300 ms\"}}"
wait_state "$JOB" RUNNING 20 || fail "D: the job is not RUNNING: $STATE"
wait_count "/jobs/$JOB/checkpoints" .counts.completed 1 20 || fail "D: no checkpoint completed"
check "D: every key printed before the savepoint" all_keys_printed 20
savepoint_cancel sp2
SP2=$SP
lines "$WORK/d.lines"
# The TTL value D wrote for each key below 25 (the same on all its lines).
awk -F'\t' '$1 < 25 { s[$1] = $8 } END { for (k in s) print k, s[k] }' "$WORK/d.lines" | sort -n >"$WORK/d.since"
check "D: keys below 25 found their TTL state expired and wrote it anew" \
	test "$(awk '$2 > 0' "$WORK/d.since" | wc -l)" = 25

# ----------------------- E: the second savepoint at clock 1000: what it holds
set_clock 1000
mark_logs
if run_and_finish "E: the second savepoint restored" "{\"parallelism\": 2, \"programArgsList\": [$ARGS, \"--rate\", \"0\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP2\"}}"; then
	lines "$WORK/e.lines"
	finals "$WORK/e.lines" "$WORK/e.finals"
	cut -f1-7,9 "$WORK/e.finals" >"$WORK/e.nottl"
	exact "E: the second savepoint restored (all but the TTL state)" "$WORK/expected-nottl" "$WORK/e.nottl"
	if bad=$(since_is_first_count "$WORK/e.lines" 25) && [ -z "$bad" ]; then
		pass "E: keys from 25 on find no TTL state: its expired entries were not written into the savepoint"
	else
		fail "E: an expired TTL entry was written into the savepoint" "$bad"
	fi
	awk -F'\t' '$1 < 25 { print $1, $8 }' "$WORK/e.lines" | sort -u | sort -n >"$WORK/e.since"
	same_file "E: keys below 25 find the TTL state D wrote" "$WORK/d.since" "$WORK/e.since"
fi

# --------------------------------- F: recovery from a checkpoint, on LMDB
set_clock 1000
mark_logs
if run_and_finish "F: LMDB, a source failing once at offset 25000" "{\"parallelism\": 2, \"programArgsList\": [$ARGS, \"--rate\", \"10000\", \"--fail-once\"], \"flinkConfiguration\": {\"execution.checkpointing.interval\": \"200 ms\", \"state.backend.type\": \"lmdb\"}}"; then
	lines "$WORK/f.lines"
	finals "$WORK/f.lines" "$WORK/f.finals"
	exact "F: recovered from the latest checkpoint after a failure" "$WORK/expected" "$WORK/f.finals"
fi
check "F: the source did fail once" test -e "$WORK/failed-once"
grep -q "($JOB) restores checkpoint [0-9]* from $WORK/ckp/$JOB/chk-" "$WORK/jm.log" &&
	pass "F: the restarted attempt restores the latest checkpoint" ||
	fail "F: no checkpoint restore for the restarted attempt" "$(grep -i restor "$WORK/jm.log" | tail -3)"
check "LMDB's files went with their tasks" test -z "$(ls -A "$WORK/state")"

# ------------------------------------ G: a stored value of another type
run_jar "$KS_JAR" "{\"parallelism\": 2, \"programArgsList\": [$ARGS, \"--retype\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP1\", \"restart-strategy.type\": \"none\"}}"
if wait_state "$JOB" 'FINISHED|FAILED|CANCELED' 30 && [ "$STATE" = FAILED ]; then
	api GET "/jobs/$JOB/exceptions"
	if json '."root-exception"' | grep -q "state 'stats' of operator 'KeyedProcess': a stored value does not decode as the declared type: field 0 is int64 where the state declares string"; then
		pass "G: a value of another type fails the job, naming the state, the operator and the field"
	else
		fail "G: the failure does not say so" "$(head -c 600 "$WORK/api.out")"
	fi
else
	fail "G: a value of another type: the job ended $STATE"
fi

stop_all
logs_clean "$WORK"/jm.log "$WORK"/tm-*.log

# ------------------------------------------------- refusals, local cluster
run_flinc conflict "$JOB_SO" --conflict --count 100 --rate 0
expect_last conflict 1 "FAILED: state 'stats' of operator 'KeyedProcess': declared as a ValueState, and again as a ListState$"
run_flinc fail-process "$JOB_SO" --fail-process --count 100 --rate 0
expect_last fail-process 1 "FAILED: operator 'KeyedProcess': ks_process_fail\(\) failed: no good at offset 77$"
run_flinc unkeyed "$JOB_SO" --unkeyed --count 100 --rate 0
expect_last unkeyed 1 "FAILED: process: needs a keyed stream; call fl_key_by\(\) or fl_key_by_fn\(\) first$"
run_flinc long-key -D state.backend.type=lmdb "$JOB_SO" --long-key --count 100 --rate 0
expect_last long-key 1 "FAILED: operator 'KeyedProcess': state 'stats': key of 604 bytes plus namespace of 0 over the 496 bytes the lmdb state backend takes$"
run_flinc long-key-heap "$JOB_SO" --long-key --count 100 --rate 0
check_finished long-key-heap
run_flinc state-in-map "$JOB_SO" --state-in-map --count 100 --rate 0
expect_last state-in-map 1 "FAILED: keyed state 'stats' asked for outside a keyed process function: only functions given to fl_process\(\) have keyed state$"

it_finish
