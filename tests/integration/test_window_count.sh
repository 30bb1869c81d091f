#!/usr/bin/env bash
# Windows (issue #9, step 3): examples/window_count.so on the local cluster
# over three text files of "<millis><TAB><key>" lines out of order by up to
# 300 ms within a file (and the files' ranges overlapping), with an
# out-of-orderness of 400 ms: tumbling, sliding and session windows (a gap
# of 10 ms: many sessions per key, merged as records arrive out of order)
# at parallelism 1, 2 and 4, in streaming and batch mode. No record is
# late, so every window fires once and the output equals a reference
# computed here with awk (one line per window: start, end, key, count).
# `flinc plan` shows a window's spec. And the refusals: a slide larger than
# the size, a zero session gap, a line without a timestamp.
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
