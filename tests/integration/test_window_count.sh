#!/usr/bin/env bash
# Windows (issue #9, step 3): examples/window_count.so on the local cluster
# over three text files of "<millis><TAB><key>" lines out of order by up to
# 300 ms within a file (and the files' ranges overlapping), with an
# out-of-orderness of 400 ms: tumbling, sliding and session windows (a gap
# of 10 ms: many sessions per key, merged as records arrive out of order)
# at parallelism 1, 2 and 4, in streaming and batch mode. No record is
# late, so every window fires once and the output equals a reference
# computed here with awk (one line per window: start, end, key, count).
# Count triggers (purging or not) and count evictors (before and after the
# function) exact against references computed with awk from the windows'
# counts, in both modes. `flinc plan` shows a window's spec, its trigger and
# evictor. And the refusals: a slide larger than the size, a zero session
# gap, a count trigger of 0, a line without a timestamp.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
SO=$EXAMPLES/window_count.so
[ -e "$SO" ] || { echo "missing $SO (build the project first)" >&2; exit 1; }

# File f: 6000 lines, line i at 1700000000000 + 3 i + (i * 7919 + f) % 300
# (%.0f: mawk's %d stops at 2^31 - 1), keys k0..k12.
for f in 1 2 3; do
	awk -v f=$f 'BEGIN {
		for (i = 0; i < 6000; i++)
			printf "%.0f\tk%d\n", 1700000000000 + 3 * i + (i * 7919 + f) % 300, (i * f) % 13
	}' >"$WORK/in$f.txt"
done
cat "$WORK"/in*.txt >"$WORK/all.txt"

reference() { # reference SIZE SLIDE: every window's count, sorted
	awk -F'\t' -v size="$1" -v slide="$2" '{
		rel = $1 - 1700000000000
		for (s = rel - rel % slide; s > rel - size; s -= slide)
			c[s "\t" $2]++
	} END {
		for (k in c) {
			split(k, p, "\t")
			printf "%.0f\t%.0f\t%s\t%d\n", 1700000000000 + p[1], 1700000000000 + p[1] + size, p[2], c[k]
		}
	}' "$WORK/all.txt" | sort
}
reference 500 500 >"$WORK/want-tumbling"
reference 1000 250 >"$WORK/want-sliding"
# Sessions: per key in time order, a new one where the next record is more
# than the gap after the last (touching windows merge, as in Flink).
sort -t "$(printf '\t')" -k2,2 -k1,1n "$WORK/all.txt" | awk -F'\t' -v gap=10 '
	function out() { printf "%.0f\t%.0f\t%s\t%d\n", s, l + gap, k, n }
	$2 != k || $1 - l > gap { if (n) out(); k = $2; s = $1; n = 0 }
	{ l = $1; n++ }
	END { if (n) out() }' | sort >"$WORK/want-session"

for mode in streaming batch; do
	for p in 1 2 4; do
		for w in tumbling sliding session; do
			tag=$w-$mode-p$p
			case $w in
			tumbling) wargs=(--tumbling 500) ;;
			sliding) wargs=(--sliding 1000 --slide 250) ;;
			session) wargs=(--session-gap 10) ;;
			esac
			run_flinc "$tag" -p $p "$SO" --input "$WORK/in1.txt" --input "$WORK/in2.txt" \
				--input "$WORK/in3.txt" "${wargs[@]}" --out-of-orderness 400 \
				--output "$WORK/out-$tag" --mode $mode
			if [ "$RC" -ne 0 ]; then
				fail "$tag: the job failed" "$(tail -5 "$WORK/$tag.err")"
				continue
			fi
			if sort "$WORK/out-$tag"/part-* | cmp -s - "$WORK/want-$w"; then
				pass "$tag: every window once, its count exact ($(wc -l <"$WORK/want-$w") windows)"
			else
				fail "$tag: windows differ from the reference" \
					"$(sort "$WORK/out-$tag"/part-* | diff - "$WORK/want-$w" | head -6)"
			fi
		done
	done
done

# Triggers and evictors (Flink's CountTrigger, PurgingTrigger, CountEvictor):
# what each window fires, from its count in the references above, computed
# here independently. A count trigger of N fires floor(n / N) times (not at
# the window's end), with the window's count so far (FIRE keeps it), or N
# (purging); a count evictor of M keeps the last M when it fires, before the
# count or after it (then the next firing sees M + N).
fired() { # fired N PURGE M AFTER WINDOWS: N 0 = the default trigger
	awk -F'\t' -v n="$1" -v purge="$2" -v m="$3" -v after="$4" '{
		fires = n ? int($4 / n) : 1
		held = 0
		for (i = 1; i <= fires; i++) {
			held += n ? n : $4
			if (m && !after && held > m) held = m
			printf "%s\t%s\t%s\t%d\n", $1, $2, $3, held
			if (m && after && held > m) held = m
			if (purge) held = 0
		}
	}' "$WORK/want-$5" | sort
}
fired 7 0 0 0 tumbling >"$WORK/want-count"
fired 7 1 0 0 tumbling >"$WORK/want-purging"
fired 0 0 5 0 sliding >"$WORK/want-evict"
fired 4 0 3 0 tumbling >"$WORK/want-count-evict"
fired 4 0 3 1 tumbling >"$WORK/want-count-evict-after"
for c in "count streaming 2 --tumbling 500 --trigger-count 7" \
	"purging batch 4 --tumbling 500 --trigger-count 7 --trigger-purging true" \
	"evict streaming 2 --sliding 1000 --slide 250 --evictor-count 5" \
	"count-evict streaming 3 --tumbling 500 --trigger-count 4 --evictor-count 3" \
	"count-evict-after streaming 2 --tumbling 500 --trigger-count 4 --evictor-count 3 --evictor-after true"; do
	read -r w mode p args <<<"$c"
	tag=trigger-$w-$mode-p$p
	# shellcheck disable=SC2086 # args: the case's options, word-split on purpose
	run_flinc "$tag" -p "$p" "$SO" --input "$WORK/in1.txt" --input "$WORK/in2.txt" \
		--input "$WORK/in3.txt" $args --out-of-orderness 400 --output "$WORK/out-$tag" \
		--mode "$mode"
	if [ "$RC" -ne 0 ]; then
		fail "$tag: the job failed" "$(tail -5 "$WORK/$tag.err")"
		continue
	fi
	sort "$WORK/out-$tag"/part-* >"$WORK/got-$tag"
	if [ -s "$WORK/want-$w" ] && cmp -s "$WORK/got-$tag" "$WORK/want-$w"; then
		pass "$tag: every firing exact ($(wc -l <"$WORK/want-$w") lines)"
	else
		fail "$tag: firings differ from the reference" \
			"$(diff "$WORK/got-$tag" "$WORK/want-$w" | head -6)"
	fi
done
plan_flinc plan-trigger "$SO" --input "$WORK/in1.txt" --tumbling 500 --trigger-count 4 \
	--trigger-purging true --evictor-count 3 --out-of-orderness 400
check "flinc plan shows the trigger and the evictor" \
	grep -q 'Window \[window tumbling 500 ms, event time, purging trigger every 4 records, evict to the last 3 records before, reduce wc_sum(), window wc_emit()\]' "$WORK/plan-trigger.out"
run_flinc count0 "$SO" --input "$WORK/in1.txt" --tumbling 100 --trigger-count 0 --out-of-orderness 10
check "a count trigger of 0 is refused" test "$RC" -ne 0
check "... naming it" grep -q 'trigger.count of a count trigger must be > 0, not 0' "$WORK/count0.err"

plan_flinc plan "$SO" --input "$WORK/in1.txt" --sliding 1000 --slide 250 --allowed-lateness 5 --out-of-orderness 400
check "flinc plan shows the window's spec" \
	grep -q 'head  Window \[window sliding 1000 ms every 250 ms, event time, lateness 5 ms, reduce wc_sum(), window wc_emit()\]' "$WORK/plan.out"

run_flinc wide "$SO" --input "$WORK/in1.txt" --sliding 100 --slide 200 --out-of-orderness 10
check "a slide larger than the size is refused" test "$RC" -ne 0
check "... naming it" grep -q 'slide_ms of a sliding window must be > 0 and <= size_ms, not 200' "$WORK/wide.err"
run_flinc nogap "$SO" --input "$WORK/in1.txt" --session-gap 0 --out-of-orderness 10
check "a session gap of 0 is refused" test "$RC" -ne 0
check "... naming it" grep -q 'gap_ms of a session window must be > 0, not 0' "$WORK/nogap.err"
printf '1700000000000\tk1\nnot-a-time\tk2\n' >"$WORK/bad.txt"
run_flinc bad "$SO" --input "$WORK/bad.txt" --tumbling 100 --out-of-orderness 10 --output "$WORK/out-bad"
check "a line without a timestamp fails the job" test "$RC" -ne 0
check "... naming the line" grep -q "no timestamp at the start of the line 'not-a-time" "$WORK/bad.err"

logs_clean "$WORK"/*.err
it_finish
