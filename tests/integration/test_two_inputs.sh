#!/usr/bin/env bash
# Two inputs (issue #9): jobs/two_inputs.so connects two event-time
# generators ("orders", "payments"; the second's event time runs twice as
# fast, so the operator's watermark must be the minimum of both inputs).
#   L1 --local at parallelism 1 and L2 at 2: a keyed co-process function
#      counting each input's records per key and 100 ms window in shared
#      keyed state, printed by event-time timers: exact against a reference
#      computed here with awk;
#   J  the window join (tumbling, at parallelism 1), the sliding and the
#      session window joins (sessions merged over both inputs' records) and
#      the interval join (at 2): every matching pair once, exact against
#      joins computed here with awk; the window coGroup (at 2): per key and
#      window with a record, both inputs' counts, exact against awk;
#   EX examples/join_files.so (installed with the others) joining two files
#      per side, out of order, by window, by session (gap 30 ms) and by
#      interval, and left outer joins by window and by session (gap 5 ms:
#      window coGroups): exact against awk;
#   L3 co_map of both streams at parallelism 2: every record of each input
#      once, through its own function;
#   L4 keys of different types on the two inputs: the job FAILS naming both;
#   L5 an on_timer on unkeyed connected streams: refused when the graph is
#      built, saying why;
#   L6 the broadcast state pattern at parallelism 2: rules broadcast into a
#      MapState, read by the keyed side's timers: exact; L7 a write of the
#      broadcast state from the keyed side fails the job naming it;
#   S  a session cluster of processes (a JobManager, two TaskManagers): the
#      co-process at parallelism 2, paced, stopped with a savepoint in the
#      middle (event-time timers pending), restored at parallelism 3 into
#      LMDB: the restored subtasks rebuild the timers of their key groups,
#      no window prints in both runs, together every window once, exact;
#   SB the same with the broadcast state pattern: each restored subtask
#      takes one copy of the broadcast state (the third from old subtask 0);
#   SJ, SW, SS, SC the same with the interval join, the sliding and the
#      session window joins and the window coGroup: buffered records and
#      their timers move with their key groups.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
JOB_SO=$JOBS/two_inputs.so
[ -e "$JOB_SO" ] || { echo "missing $JOB_SO (build the project first)" >&2; exit 1; }
N=12000

# The reference of --mode co-process: per key and 100 ms window, each
# input's count (0 when it has none there).
reference() {
	awk -v n="$1" 'BEGIN {
		for (o = 0; o < n; o++) { rel = 2 * o + (o * 7919) % 1000; a[o % 40 "\t" rel - rel % 100]++ }
		for (o = 0; o < int(n / 2); o++) { rel = 4 * o + (o * 104729) % 1000; b[o % 40 "\t" rel - rel % 100]++ }
		for (k in a) seen[k] = 1
		for (k in b) seen[k] = 1
		for (k in seen) {
			split(k, p, "\t")
			printf "%d\t%.0f\t%d\t%d\n", p[1], 1700000000000 + p[2], a[k] + 0, b[k] + 0
		}
	}' | LC_ALL=C sort
}
reference $N >"$WORK/expected"

for p in 1 2; do
	run_flinc "L$p" -p $p "$JOB_SO" --count $N
	check_finished "L$p"
	strip_prefix <"$WORK/L$p.out" | LC_ALL=C sort >"$WORK/L$p.sorted"
	same_file "L$p: co-process counts at parallelism $p" "$WORK/expected" "$WORK/L$p.sorted"
done

# The reference of --mode broadcast: the count per key and window, and the
# weights of the rules whose time is at most the window's end.
awk -v n=$N 'BEGIN {
	for (r = 0; r < 60; r++) { rt[r] = 400 * r + (r * 37) % 100; w[r] = r % 7 + 1 }
	for (o = 0; o < n; o++) { rel = 2 * o + (o * 7919) % 1000; a[o % 40 "\t" rel - rel % 100]++ }
	for (k in a) {
		split(k, p, "\t"); e = p[2] + 99; s = 0
		for (r = 0; r < 60; r++) if (rt[r] <= e) s += w[r]
		printf "%d\t%.0f\t%d\t%d\n", p[1], 1700000000000 + p[2], a[k], s
	}
}' | LC_ALL=C sort >"$WORK/expected-bc"
run_flinc L6 -p 2 "$JOB_SO" --count $N --mode broadcast
check_finished L6
strip_prefix <"$WORK/L6.out" | LC_ALL=C sort >"$WORK/L6.sorted"
same_file "L6: broadcast state read by the keyed side at parallelism 2" "$WORK/expected-bc" "$WORK/L6.sorted"
run_flinc L7 -p 2 "$JOB_SO" --count 1000 --mode broadcast-write
check "L7: a write of the broadcast state by the keyed side fails the job" test "$RC" -ne 0
check "L7: the failure says the broadcast state is read-only there" \
	grep -q "state 'rules' of operator 'KeyedBroadcastProcess': is read-only in the keyed side's process function" "$WORK/L7.err"

# The references of the joins: every pair of an order and a payment of one
# key that the join matches, with the pair's timestamp (a window's end - 1,
# or the later of the two).
join_reference() { # join_reference MODE
	awk -v n=$N -v mode="$1" 'BEGIN {
		for (o = 0; o < n; o++) { k = o % 40; ta[k, ++ca[k]] = 2 * o + (o * 7919) % 1000; oa[k, ca[k]] = o }
		for (o = 0; o < int(n / 2); o++) { k = o % 40; tb[k, ++cb[k]] = 4 * o + (o * 104729) % 1000; ob[k, cb[k]] = o }
		if (mode == "session-join")
			# Sessions of gap 30 over both inputs: each key'"'"'s times
			# in order (insertion sort), a time within 30 of the one
			# before joins its session; send: the session'"'"'s end - 1.
			for (k = 0; k < 40; k++) {
				m = 0
				for (i = 1; i <= ca[k]; i++) { t[++m] = ta[k, i]; who[m] = "a" i }
				for (j = 1; j <= cb[k]; j++) { t[++m] = tb[k, j]; who[m] = "b" j }
				for (x = 2; x <= m; x++)
					for (y = x; y > 1 && t[y] < t[y - 1]; y--) {
						tt = t[y]; t[y] = t[y - 1]; t[y - 1] = tt
						ww = who[y]; who[y] = who[y - 1]; who[y - 1] = ww
					}
				for (x = 1; x <= m; x++) {
					if (x == 1 || t[x] > t[x - 1] + 30)
						ns++
					send[ns] = t[x] + 29
					if (substr(who[x], 1, 1) == "a")
						sa[k, substr(who[x], 2) + 0] = ns
					else
						sb[k, substr(who[x], 2) + 0] = ns
				}
			}
		for (k = 0; k < 40; k++)
			for (i = 1; i <= ca[k]; i++)
				for (j = 1; j <= cb[k]; j++) {
					tl = ta[k, i]; tr = tb[k, j]
					if (mode == "interval-join") {
						if (tr >= tl - 50 && tr <= tl + 100)
							printf "%d\t%d\t%d\t%.0f\n", k, oa[k, i], ob[k, j], 1700000000000 + (tl > tr ? tl : tr)
					} else if (mode == "window-join") {
						if (tl - tl % 100 == tr - tr % 100)
							printf "%d\t%d\t%d\t%.0f\n", k, oa[k, i], ob[k, j], 1700000000000 + tl - tl % 100 + 99
					} else if (mode == "session-join") {
						if (sa[k, i] == sb[k, j])
							printf "%d\t%d\t%d\t%.0f\n", k, oa[k, i], ob[k, j], 1700000000000 + send[sa[k, i]]
					} else {
						for (s = tl - tl % 100; s > tl - 200; s -= 100)
							if (tr >= s && tr < s + 200)
								printf "%d\t%d\t%d\t%.0f\n", k, oa[k, i], ob[k, j], 1700000000000 + s + 199
					}
				}
	}' | LC_ALL=C sort
}
# The coGroup's: per key and 100 ms window with a record, the counts of
# both inputs' records in it.
cogroup_reference() {
	awk -v n=$N 'BEGIN {
		for (o = 0; o < n; o++) { t = 2 * o + (o * 7919) % 1000; ca[o % 40, t - t % 100]++; any[o % 40, t - t % 100] = 1 }
		for (o = 0; o < int(n / 2); o++) { t = 4 * o + (o * 104729) % 1000; cb[o % 40, t - t % 100]++; any[o % 40, t - t % 100] = 1 }
		for (kw in any) {
			split(kw, p, SUBSEP)
			printf "%d\t%d\t%d\t%.0f\n", p[1], ca[kw], cb[kw], 1700000000000 + p[2] + 99
		}
	}' | LC_ALL=C sort
}
p=1
for mode in window-join sliding-join session-join interval-join cogroup; do
	if [ $mode = cogroup ]; then
		cogroup_reference >"$WORK/expected-$mode"
		unit=window
	else
		join_reference $mode >"$WORK/expected-$mode"
		unit=pair
	fi
	run_flinc "J-$mode" -p $p "$JOB_SO" --count $N --mode $mode
	check_finished "J-$mode"
	strip_prefix <"$WORK/J-$mode.out" | LC_ALL=C sort >"$WORK/J-$mode.sorted"
	same_file "J-$mode: every matching $unit once at parallelism $p ($(wc -l <"$WORK/expected-$mode") ${unit}s)" \
		"$WORK/expected-$mode" "$WORK/J-$mode.sorted"
	p=2
done

# The example: examples/join_files.so over two files per side, lines out of
# order by up to 200 ms, against awk joins of the same lines.
JF=$EXAMPLES/join_files.so
awk 'BEGIN { for (i = 0; i < 4000; i++) {
	f = "'"$WORK"'/left-" i % 2 ".txt"
	printf "%.0f\tk%d\tl%d\n", 1700000000000 + 3 * i + (i * 7919) % 200, i % 17, i >>f } }'
awk 'BEGIN { for (i = 0; i < 3000; i++) {
	f = "'"$WORK"'/right-" i % 2 ".txt"
	printf "%.0f\tk%d\tr%d\n", 1700000000000 + 4 * i + (i * 104729) % 200, i % 17, i >>f } }'
example_reference() { # example_reference window|interval|outer: key, values, both times
	cat "$WORK"/left-*.txt | awk -F'\t' -v mode="$1" -v rights="$(cat "$WORK"/right-*.txt | tr '\n' ';')" '
	BEGIN { n = split(rights, rl, ";"); for (i = 1; i <= n; i++) if (rl[i] != "") { split(rl[i], f, "\t"); rk[f[2]] = rk[f[2]] i ","; rt[i] = f[1]; rv[i] = f[3] } }
	{ m = split(rk[$2], idx, ","); found = 0
	  for (j = 1; j < m; j++) { i = idx[j]; tl = $1 - 1700000000000; tr = rt[i] - 1700000000000
		if (mode == "interval" ? (tr >= tl - 30 && tr <= tl + 60) : (tl - tl % 100 == tr - tr % 100)) {
			printf "%s\t%s\t%s\t%s\t%s\n", $2, $3, rv[i], $1, rt[i]; found = 1 } }
	  if (mode == "outer" && !found)
		printf "%s\t%s\t-\t%s\t-\n", $2, $3, $1 }' | LC_ALL=C sort
}
session_reference() { # session_reference GAP [outer]: pairs of a key's lines in one session
	{
		awk -F'\t' '{ print $2 "\t" $1 "\tL\t" $3 }' "$WORK"/left-*.txt
		awk -F'\t' '{ print $2 "\t" $1 "\tR\t" $3 }' "$WORK"/right-*.txt
	} | LC_ALL=C sort -t "$T" -k1,1 -k2,2n | awk -F'\t' -v gap="$1" -v outer="${2:-}" '
	function flush(i, j) {
		for (i = 1; i <= nl; i++)
			if (outer && nr == 0)
				printf "%s\t%s\t-\t%s\t-\n", k, lv[i], lt[i]
		for (i = 1; i <= nl; i++)
			for (j = 1; j <= nr; j++)
				printf "%s\t%s\t%s\t%s\t%s\n", k, lv[i], rv[j], lt[i], rt[j]
		nl = nr = 0
	}
	$1 != k || $2 > last + gap { flush(); k = $1 }
	{ last = $2; if ($3 == "L") { lv[++nl] = $4; lt[nl] = $2 } else { rv[++nr] = $4; rt[nr] = $2 } }
	END { flush() }' | LC_ALL=C sort
}
T=$'\t'
for mode in window session interval outer outer-session; do
	case $mode in
	session) session_reference 30 >"$WORK/expected-ex-$mode" ;;
	outer-session) session_reference 5 outer >"$WORK/expected-ex-$mode" ;;
	*) example_reference $mode >"$WORK/expected-ex-$mode" ;;
	esac
	case $mode in
	window) args=(--window 100) ;;
	session) args=(--session-gap 30) ;;
	outer) args=(--window 100 --left-outer) ;;
	outer-session) args=(--session-gap 5 --left-outer) ;;
	*) args=(--interval -30 60) ;;
	esac
	run_flinc "EX-$mode" -p 2 "$JF" --left "$WORK/left-0.txt" --left "$WORK/left-1.txt" \
		--right "$WORK/right-0.txt" --right "$WORK/right-1.txt" "${args[@]}" --out-of-orderness 200
	check_finished "EX-$mode"
	strip_prefix <"$WORK/EX-$mode.out" | LC_ALL=C sort >"$WORK/EX-$mode.sorted"
	same_file "EX-$mode: join_files.so joins the files exactly ($(wc -l <"$WORK/expected-ex-$mode") lines)" \
		"$WORK/expected-ex-$mode" "$WORK/EX-$mode.sorted"
done

run_flinc L3 -p 2 "$JOB_SO" --count 3000 --mode co-map
check_finished L3
same_file "L3: co_map: each input's records once, each through its function" \
	<({ seq 0 2999 | sed 's/^/A\t/'; seq 0 1499 | sed 's/^/B\t/'; } | LC_ALL=C sort) \
	<(strip_prefix <"$WORK/L3.out" | LC_ALL=C sort)

run_flinc L4 -p 2 "$JOB_SO" --count 1000 --mode key-types
check "L4: keys of different types fail the job" test "$RC" -ne 0
check "L4: the failure names both key types" \
	grep -q "the keys of its two inputs differ in type: the first input's key is (int64), the second's (string)" "$WORK/L4.err"

run_flinc L5 "$JOB_SO" --count 10 --mode timer-unkeyed
check "L5: an on_timer on unkeyed inputs is refused" test "$RC" -ne 0
check "L5: the refusal says timers need keyed inputs" \
	grep -q "co_process: an on_timer function needs keyed inputs" "$WORK/L5.err"

# --- S: stop-with-savepoint and a restore at another parallelism ---------
source "$(dirname "$0")/cluster.sh"
start_jm jm
mkdir -p "$WORK/state"
start_tm tm-a -D "taskmanager.state.local.root-dirs=$WORK/state"
start_tm tm-b -D "taskmanager.state.local.root-dirs=$WORK/state"
check "/overview reports 2 TaskManagers" wait_overview 2 20
upload "$JOB_SO"
declare -A MARK
mark_logs() { local t; for t in tm-a tm-b; do MARK[$t]=$(wc -l <"$WORK/$t.log"); done; }
lines() { # lines OUT: the job's printed rows since mark_logs
	local t
	for t in tm-a tm-b; do tail -n +$((MARK[$t] + 1)) "$WORK/$t.log"; done | strip_prefix |
		grep -E "^[0-9]+${T}[0-9]+${T}[0-9]+${T}[0-9]+\$" | LC_ALL=C sort >"$1" || true
}
restored_timers() {
	local t
	for t in tm-a tm-b; do tail -n +$((MARK[$t] + 1)) "$WORK/$t.log"; done |
		sed -nE 's/.* ([0-9]+) event-time and ([0-9]+) processing-time timers restored.*/\1/p' |
		awk '{ e += $1 } END { print e + 0 }'
}
some_printed() {
	for _ in $(seq 300); do
		lines "$WORK/probe"
		[ "$(wc -l <"$WORK/probe")" -ge 100 ] && return 0
		sleep 0.1
	done
	return 1
}

stop_restore() { # stop_restore TAG MODE EXPECTED: stop at 2 in the middle, restore at 3 into LMDB
	local tag=$1 mode=$2 exp=$3 n1
	mark_logs
	run_jar "$JAR" "{\"parallelism\": 2, \"programArgsList\": [\"--count\", \"$N\", \"--rate\", \"3000\", \"--mode\", \"$mode\"], \"flinkConfiguration\": {\"pipeline.auto-watermark-interval\": \"20 ms\"}}" ||
		{ fail "$tag: not submitted"; return 0; }
	local j1=$JOB
	wait_state "$j1" RUNNING 20 || fail "$tag: the job is not RUNNING: $STATE"
	check "$tag: windows printed by the timers" some_printed
	stop_with_savepoint "$tag" "$j1" "$WORK/sp-$tag"
	lines "$WORK/$tag-1.lines"
	n1=$(wc -l <"$WORK/$tag-1.lines")
	check "$tag: the job stopped in the middle ($n1 of $(wc -l <"$exp") windows)" \
		test "$n1" -gt 0 -a "$n1" -lt "$(wc -l <"$exp")"
	mark_logs
	run_jar "$JAR" "{\"parallelism\": 3, \"programArgsList\": [\"--count\", \"$N\", \"--mode\", \"$mode\"], \"flinkConfiguration\": {\"execution.savepoint.path\": \"$SP\", \"state.backend.type\": \"lmdb\"}}" ||
		{ fail "$tag: restore not submitted"; return 0; }
	local j2=$JOB
	if wait_state "$j2" 'FINISHED|FAILED|CANCELED' 120 && [ "$STATE" = FINISHED ]; then
		pass "$tag: restored at parallelism 3 into LMDB: FINISHED"
		lines "$WORK/$tag-2.lines"
		R=$(restored_timers)
		check "$tag: event-time timers were pending in the savepoint ($R restored)" test "$R" -gt 0
		check "$tag: no window printed by both runs" \
			test "$(comm -12 "$WORK/$tag-1.lines" "$WORK/$tag-2.lines" | wc -l)" -eq 0
		# A file, not <(...): same_file reads it twice on a mismatch.
		LC_ALL=C sort "$WORK/$tag-1.lines" "$WORK/$tag-2.lines" >"$WORK/$tag.both"
		same_file "$tag: together every window once, exact" "$exp" "$WORK/$tag.both"
	else
		fail "$tag: the restored job ended $STATE" "$(job_why "$j2")"
	fi
}
stop_restore S co-process "$WORK/expected"
stop_restore SB broadcast "$WORK/expected-bc"
stop_restore SJ interval-join "$WORK/expected-interval-join"
stop_restore SW sliding-join "$WORK/expected-sliding-join"
stop_restore SS session-join "$WORK/expected-session-join"
stop_restore SC cogroup "$WORK/expected-cogroup"
check "SB: each of the 3 restored subtasks took a copy of the broadcast state" \
	test "$(cat "$WORK"/tm-*.log | grep -c "broadcast state 'rules' restored")" -eq 3
stop_all
logs_clean "$WORK"/*.err "$WORK"/jm.log "$WORK"/tm-*.log
it_finish
