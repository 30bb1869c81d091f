#!/usr/bin/env bash
# Streaming WordCount side by side with Apache Flink 2.3.0 on this machine
# (issue #8): every update of a count written by the exactly-once file sink,
# checkpoints on, state on the heap or in LMDB (Flink: the heap or RocksDB),
# at parallelism 1 and 2, the same input for both.
#
#   bench/wordcount_vs_flink.sh [SIZE_MB [REPEATS]]   (default 100 MB, 1 repeat)
#
# Environment: INTERVAL_MS (checkpoint interval, default 1000), BACKENDS
# (default "hashmap lmdb"), PARALLELISMS (default "1 2"), FLINC_BIN
# (default build/release). Build the release preset first; Java 17 and
# Maven are needed (the jars come from Maven Central into ~/.m2, once).
#
# The input: bench_gentext SIZE_MB (as bench/wordcount.sh makes it, kept
# under $TMPDIR/flinc-bench-wordcount), cut at a line into two files, both
# read by both systems (Flink's TextLineInputFormat does not split a file,
# so two files give its two source subtasks one each at p=2).
#
# flinc: `flinc run --local` of examples/wordcount.so --mode streaming
# with execution.checkpointing.interval and .dir set, so the text sink is
# the exactly-once one (a part file per subtask and checkpoint, committed
# when the checkpoint completes). Flink: bench/flink/src/WordCount.java,
# FileSource -> the same tokenizer -> keyBy -> sum -> FileSink (row format,
# a part file rolled at each checkpoint, committed when it completes), in
# STREAMING mode on a local MiniCluster, the same interval; run twice in one
# JVM: cold (the first run: class loading, JIT) and warm (the second run,
# the JVM's CPU during it only); "whole JVM" is the JVM process's CPU,
# start-up included, divided by the two runs. flinc's reference rows (the
# heap only): batch mode (final counts only) and streaming without
# checkpoints (the non-transactional sink).
#
# CPU is user + system time of whole processes (/usr/bin/time), the figure
# that other load on this shared 2-core VM disturbs least. On the first
# repeat every output is checked: each streaming run must write the same
# number of update lines, and the last (largest) count of each word must be
# the same in every run, batch included (line formats are the same,
# `word<TAB>count`). A difference is printed and makes the exit status 1.
# Figures only: nothing about speed is asserted.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MB=${1:-100}
REPEATS=${2:-1}
INTERVAL_MS=${INTERVAL_MS:-1000}
BACKENDS=${BACKENDS:-hashmap lmdb}
PARALLELISMS=${PARALLELISMS:-1 2}
B=${FLINC_BIN:-build/release}
source bench/lib.sh
bench_built "$B/flinc" "$B/examples/wordcount.so" "$B/bench/bench_gentext"
bench_need java javac /usr/bin/time
CP=$(flink_classpath)
classes=$(flink_classes "$CP" WordCount)

data=${TMPDIR:-/tmp}/flinc-bench-wordcount
mkdir -p "$data"
text=$data/text-${MB}mb.txt
if [ ! -s "$text" ]; then
	echo "generating $text ..." >&2
	"$B/bench/bench_gentext" "$MB" >"$text.tmp.$$" && mv "$text.tmp.$$" "$text"
fi
if [ ! -s "$text.half1" ] || [ "$text.half1" -ot "$text" ]; then
	split -n l/2 -d -a 1 "$text" "$text.tmp$$."
	mv "$text.tmp$$.0" "$text.half0" && mv "$text.tmp$$.1" "$text.half1"
fi
inputs=("$text.half0" "$text.half1")
bytes=$(stat -c %s "$text")

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT


# check LABEL DIR [batch]: the output's update lines and the last count per
# word, against the first output checked.
mismatch=0
check() {
	local sum lines
	lines=$(cat "$2"/part-* | wc -l)
	sum=$(cat "$2"/part-* | awk -F'\t' '{ if (!($1 in m) || $2 + 0 > m[$1]) m[$1] = $2 + 0 }
		END { for (w in m) print w "\t" m[w] }' | LC_ALL=C sort | tee "$W/counts.tmp" | md5sum | cut -c1-32)
	if [ ! -e "$W/ref.sum" ]; then
		echo "$sum" >"$W/ref.sum"
		wc -l <"$W/counts.tmp" >"$W/ref.words"
	elif [ "$sum" != "$(cat "$W/ref.sum")" ]; then
		echo "MISMATCH: $1: the last counts per word differ from the first run's" >&2
		mismatch=1
	fi
	if [ "${3:-}" != batch ]; then
		if [ ! -e "$W/ref.lines" ]; then
			echo "$lines" >"$W/ref.lines"
		elif [ "$lines" != "$(cat "$W/ref.lines")" ]; then
			echo "MISMATCH: $1: $lines update lines, the first streaming run wrote $(cat "$W/ref.lines")" >&2
			mismatch=1
		fi
	fi
	echo "checked $1: $lines lines" >>"$W/checked"
}

# flinc_run NAME MODE BACKEND P CHECKPOINTS(0|1) CHECK(0|1)
flinc_run() {
	local name=$1 mode=$2 be=$3 p=$4 ckpt=$5 out=$W/out-flinc args
	rm -rf "$out" "$W/chk"
	args=(-p "$p" -D "state.backend.type=$be" -D "taskmanager.state.local.root-dirs=$W")
	[ "$ckpt" = 1 ] && args+=(-D "execution.checkpointing.interval=${INTERVAL_MS}ms"
		-D "execution.checkpointing.dir=file://$W/chk")
	TMPDIR=$W /usr/bin/time -f '%e %U %S %M' -o "$W/time" "$B/flinc" run --local --no-progress "${args[@]}" \
		"$B/examples/wordcount.so" --mode "$mode" --input "${inputs[0]}" --input "${inputs[1]}" \
		--output "$out" >"$W/flinc.out" 2>"$W/flinc.err" || { cat "$W/flinc.err" >&2; exit 1; }
	local wall u s rss job log
	read -r wall u s rss <"$W/time"
	job=$(sed -nE 's/^Job has been submitted with JobID ([0-9a-f]+).*/\1/p' "$W/flinc.err")
	log=$(sed -nE 's/^Log file: (.*)/\1/p' "$W/flinc.err")
	record "$name.wall" "$wall"
	record "$name.cpu" "$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')"
	record "$name.rss" "$rss"
	record "$name.ckpt" "$(grep -c "Completed checkpoint [0-9]* of job $job" "$log" || true)"
	record "$name.files" "$(find "$out" -maxdepth 1 -name 'part-*' | wc -l)"
	if [ "$6" = 1 ]; then
		if [ "$mode" = batch ]; then check "$name" "$out" batch; else check "$name" "$out"; fi
	fi
	rm -rf "$out"
}

# flink_run NAME BACKEND P CHECK(0|1): two runs in one JVM
flink_run() {
	local name=$1 be=$2 p=$3 fw=$W/flink r
	rm -rf "$fw" && mkdir -p "$fw"
	/usr/bin/time -f '%e %U %S %M' -o "$W/time" java -Djava.io.tmpdir="$fw" \
		-Dlog4j.configurationFile=bench/flink/log4j2.properties -cp "$classes:$CP" \
		WordCount 2 "$p" "$be" "$INTERVAL_MS" "$fw" "${inputs[@]}" >"$W/flink.out" 2>"$W/flink.err" ||
		{ grep -v '^[[:space:]]*at ' "$W/flink.err" | tail -20 >&2; exit 1; }
	for r in 1 2; do
		local line job wall cpu
		line=$(grep "^flink run $r: " "$W/flink.out") || { cat "$W/flink.out" >&2; exit 1; }
		job=$(sed -E 's/.* job ([0-9a-f]+),.*/\1/' <<<"$line")
		wall=$(sed -E 's/.*, ([0-9.]+) s wall.*/\1/' <<<"$line")
		cpu=$(sed -E 's/.*, ([0-9.]+) s CPU.*/\1/' <<<"$line")
		record "$name-run$r.wall" "$wall"
		record "$name-run$r.cpu" "$cpu"
		record "$name-run$r.ckpt" "$(grep -c "Completed checkpoint [0-9]* for job $job" "$W/flink.err" || true)"
		record "$name-run$r.files" "$(find "$fw/out-$r" -maxdepth 1 -name 'part-*' | wc -l)"
		if [ "$4" = 1 ]; then check "$name-run$r" "$fw/out-$r"; fi
	done
	local wall u s rss
	read -r wall u s rss <"$W/time"
	record "$name-whole.cpu" "$(awk -v u="$u" -v s="$s" 'BEGIN { print (u + s) / 2 }')"
	record "$name-whole.rss" "$rss"
	rm -rf "$fw"
}

flink_backend() { if [ "$1" = lmdb ]; then echo rocksdb; else echo "$1"; fi; }

printf 'streaming WordCount, %s MB (%d bytes, 2 files), checkpoint every %d ms, %d repeat(s) (medians)\n' \
	"$MB" "$bytes" "$INTERVAL_MS" "$REPEATS"
printf 'load average at start: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$REPEATS"); do
	c=0
	[ "$i" = 1 ] && c=1
	for p in $PARALLELISMS; do
		flinc_run "flinc-batch-p$p" batch hashmap "$p" 0 "$c"
		flinc_run "flinc-nockpt-p$p" streaming hashmap "$p" 0 "$c"
		for be in $BACKENDS; do
			flinc_run "flinc-$be-p$p" streaming "$be" "$p" 1 "$c"
			flink_run "flink-$be-p$p" "$(flink_backend "$be")" "$p" "$c"
			echo "  repeat $i: $be p=$p done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
		done
	done
done

m() { if [ -s "$W/$1" ]; then median <"$W/$1"; fi; }
# row LABEL NAME: NAME.wall (optional), NAME.cpu, NAME.rss, NAME.ckpt, NAME.files
row() {
	awk -v l="$1" -v w="$(m "$2.wall")" -v c="$(m "$2.cpu")" -v r="$(m "$2.rss")" -v k="$(m "$2.ckpt")" \
		-v f="$(m "$2.files")" -v b="$bytes" 'BEGIN {
		printf "%-52s %7s %7.2f %8.1f %8s %6s %6s\n", l, (w == "") ? "-" : sprintf("%.1f", b / 1e6 / w),
			c, b / 1e6 / c, (r == "") ? "-" : sprintf("%.0f", r / 1024), (k == "") ? "-" : k, (f == "") ? "-" : f }'
}
echo
printf '%-52s %7s %7s %8s %8s %6s %6s\n' "case" "MB/s" "CPU s" "MB/CPU-s" "RSS MB" "ckpts" "files"
for p in $PARALLELISMS; do
	echo "-- p=$p"
	row "flinc batch (final counts only, no checkpoints)" "flinc-batch-p$p"
	row "flinc streaming, no checkpoints" "flinc-nockpt-p$p"
	for be in $BACKENDS; do
		fb=$(flink_backend "$be")
		row "flinc streaming, $be, checkpoints, exactly-once" "flinc-$be-p$p"
		row "Flink streaming, $fb, cold (1st run in the JVM)" "flink-$be-p$p-run1"
		row "Flink streaming, $fb, warm (2nd run)" "flink-$be-p$p-run2"
		row "Flink streaming, $fb, whole JVM / 2 runs" "flink-$be-p$p-whole"
	done
done
echo
echo "input MB per CPU-second, flinc / Flink (higher: flinc does more with a CPU-second):"
for p in $PARALLELISMS; do
	for be in $BACKENDS; do
		awk -v p="$p" -v be="$be" -v fb="$(flink_backend "$be")" -v f="$(m "flinc-$be-p$p.cpu")" \
			-v cold="$(m "flink-$be-p$p-run1.cpu")" -v warm="$(m "flink-$be-p$p-run2.cpu")" \
			-v whole="$(m "flink-$be-p$p-whole.cpu")" 'BEGIN {
			printf "  p=%d, flinc %s vs Flink %s: %.1fx warm Flink (%.1fx cold, %.1fx whole JVM)\n",
				p, be, fb, warm / f, cold / f, whole / f }'
	done
done
echo
if [ -e "$W/ref.sum" ]; then
	printf 'outputs checked (first repeat): %d runs, %s update lines per streaming run, %s words; ' \
		"$(wc -l <"$W/checked")" "$(cat "$W/ref.lines" 2>/dev/null || echo '?')" "$(cat "$W/ref.words")"
	if [ "$mismatch" = 0 ]; then echo "the last count of every word is the same in all"; else echo "MISMATCHES above"; fi
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$mismatch"
