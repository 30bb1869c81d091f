#!/usr/bin/env bash
# WordCount end to end against a reference computed independently with
# tr | sort | uniq -c: batch mode at parallelism 1, 2, 4, 8 and across 3
# TaskManagers (network path), to part files and to stdout; streaming mode's
# last update per word; the built-in text.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
WC=$EXAMPLES/wordcount.so

# ---------------------------------------------------------------- input
# Deterministic text (a fixed LCG, not awk's rand()): mixed case, punctuation,
# digits, UTF-8 bytes (not word characters), CRLF lines, empty lines, one
# long line (~300 KB, longer than a 32 KiB network buffer), and a last line
# without a newline. Four files, one of them empty.
gen_text() { # gen_text SEED LINES
	awk -v seed="$1" -v lines="$2" 'BEGIN {
		split("the quick Brown FOX jumps over lazy dog Flink flinc stream batch " \
		      "key group slot Task manager job graph chain buffer credit " \
		      "abc123 x 42 007 HELLO hello Hello wOrLd cafe naive a b c z9", V, " ");
		nv = length(V);
		split(", . ; : ! ? -- ( ) [ ] \" '"'"' / _ @ # $ % & * + = < > | ~ ^ `", P, " ");
		np = length(P);
		x = seed;
		for (l = 0; l < lines; l++) {
			x = (x * 1103515245 + 12345) % 2147483648;
			n = x % 17;
			line = "";
			for (i = 0; i < n; i++) {
				x = (x * 1103515245 + 12345) % 2147483648;
				w = V[1 + int(x / 65536) % nv];
				r = int(x / 256) % 16;
				if (r == 0) w = toupper(w);
				else if (r == 1) w = w int(x / 4096) % 1000;
				else if (r == 2) w = w "\303\251t\303\251";
				sep = (r < 6) ? P[1 + int(x / 1024) % np] " " : " ";
				line = line w sep;
			}
			if (l % 97 == 5) line = "";
			printf "%s%s", line, (l % 5 == 3) ? "\r\n" : "\n";
		}
	}'
}
gen_text 1 60000 >"$WORK/in1.txt"
{
	gen_text 2 50000
	awk 'BEGIN { for (i = 0; i < 30000; i++) printf "Long%d line, ", i % 50; printf "\n" }'
	gen_text 3 10000
	printf 'Last LINE without newline 99'
} >"$WORK/in2.txt"
printf '\n\nA small FILE.\r\nWith CRLF\r\n\r\nand-no-end' >"$WORK/in3.txt"
: >"$WORK/in4.txt"
INPUTS=(--input "$WORK/in1.txt" --input "$WORK/in2.txt" --input "$WORK/in3.txt" --input "$WORK/in4.txt")
echo "input: $(cat "$WORK"/in*.txt | wc -c) bytes in 4 files"

# Reference: each file tokenized on its own (a file's last word does not run
# into the next file's first word), words lowercased, counted.
reference() {
	local f
	for f in "$@"; do
		tr -cs 'A-Za-z0-9' '\n' <"$f"
		echo
	done | tr 'A-Z' 'a-z' | grep -v '^$' | sort | uniq -c | awk '{ print $2 "\t" $1 }' | sort
}
reference "$WORK"/in1.txt "$WORK"/in2.txt "$WORK"/in3.txt "$WORK"/in4.txt >"$WORK/ref.txt"
total_words=$(awk -F'\t' '{ s += $2 } END { print s }' "$WORK/ref.txt")
echo "reference: $(wc -l <"$WORK/ref.txt") distinct words, $total_words words"

# ------------------------------------------------------------ batch mode
batch_run() { # batch_run TAG [flinc options...]
	local tag=$1
	shift
	local p=1 a
	for a in "$@"; do
		case $a in [0-9]*) p=$a ;; esac
	done
	run_flinc "$tag-files" "$@" "$WC" "${INPUTS[@]}" --mode batch --output "$WORK/$tag-out"
	check_finished "$tag-files"
	local nparts
	nparts=$(find "$WORK/$tag-out" -maxdepth 1 -name 'part-*' 2>/dev/null | wc -l)
	if [ "$nparts" -eq "$p" ]; then
		pass "$tag-files: $p part files"
	else
		fail "$tag-files: expected $p part files, found $nparts" "$(ls "$WORK/$tag-out" 2>&1)"
	fi
	cat "$WORK/$tag-out"/part-* 2>/dev/null | sort >"$WORK/$tag-files.sorted" || true
	same_file "$tag-files: counts equal the reference" "$WORK/ref.txt" "$WORK/$tag-files.sorted"

	run_flinc "$tag-print" "$@" "$WC" "${INPUTS[@]}" --mode batch
	check_finished "$tag-print"
	if [ "$p" -gt 1 ]; then
		check "$tag-print: every line has a subtask prefix 1..$p" \
			awk -v p="$p" '{ if (!match($0, /^[0-9]+> /) || $1 + 0 < 1 || $1 + 0 > p) exit 1 }' "$WORK/$tag-print.out"
	else
		check "$tag-print: no subtask prefix at parallelism 1" \
			awk '{ if ($0 ~ /^[0-9]+> /) exit 1 }' "$WORK/$tag-print.out"
	fi
	strip_prefix <"$WORK/$tag-print.out" | sort >"$WORK/$tag-print.sorted"
	same_file "$tag-print: counts equal the reference" "$WORK/ref.txt" "$WORK/$tag-print.sorted"
}

for p in 1 2 4 8; do
	batch_run "batch-p$p" -p "$p"
done
batch_run "batch-p4-3tm" -p 4 -D local.number-taskmanager=3

# -------------------------------------------------------- streaming mode
run_flinc streaming -p 4 "$WC" "${INPUTS[@]}" --mode streaming
check_finished streaming
strip_prefix <"$WORK/streaming.out" >"$WORK/streaming.lines"
n=$(wc -l <"$WORK/streaming.lines")
if [ "$n" -eq "$total_words" ]; then
	pass "streaming: one update per word occurrence ($n)"
else
	fail "streaming: expected $total_words updates, got $n"
fi
awk -F'\t' '{ last[$1] = $2 } END { for (w in last) print w "\t" last[w] }' "$WORK/streaming.lines" |
	sort >"$WORK/streaming.last"
same_file "streaming: last update per word equals the reference" "$WORK/ref.txt" "$WORK/streaming.last"
check "streaming: each word's updates count 1, 2, 3, ... in order" \
	awk -F'\t' '{ if ($2 != ++seen[$1]) exit 1 }' "$WORK/streaming.lines"

# ------------------------------------------------------- built-in text
# The built-in text is the TEXT[] array of examples/wordcount.c.
sed -n '/TEXT\[\] = {/,/^};/p' "$FLINC_SOURCE_DIR/examples/wordcount.c" |
	sed -n 's/^[[:space:]]*"\(.*\)",[[:space:]]*$/\1/p' >"$WORK/builtin.txt"
check "built-in text extracted from examples/wordcount.c (14 lines)" \
	test "$(wc -l <"$WORK/builtin.txt")" -eq 14
reference "$WORK/builtin.txt" >"$WORK/builtin.ref"
for mode in batch streaming; do
	run_flinc "builtin-$mode" -p 2 "$WC" --mode "$mode"
	check_finished "builtin-$mode"
	strip_prefix <"$WORK/builtin-$mode.out" |
		awk -F'\t' '{ last[$1] = $2 } END { for (w in last) print w "\t" last[w] }' |
		sort >"$WORK/builtin-$mode.sorted"
	same_file "builtin-$mode: counts equal the reference" "$WORK/builtin.ref" "$WORK/builtin-$mode.sorted"
done

it_finish
