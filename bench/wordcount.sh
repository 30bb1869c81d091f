#!/usr/bin/env bash
# WordCount on a generated text (default 200 MB): prints MB/s, wall and CPU
# time, peak RSS, and the size of the output, for parallelism 1 and 2.
# Figures only; nothing is asserted. MODE=streaming writes every update
# (batch: the final counts); BACKEND=lmdb keeps the counts in LMDB (default
# hashmap, the heap).
#
#   [MODE=batch|streaming] [BACKEND=hashmap|lmdb] bench/wordcount.sh [SIZE_MB]
#   (uses build/release; builds it if missing)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mb=${1:-200}
mode=${MODE:-batch}
backend=${BACKEND:-hashmap}
bin=build/release
if [[ ! -x $bin/flinc ]]; then
	cmake --preset release >/dev/null
	cmake --build --preset release
fi
work=${TMPDIR:-/tmp}/flinc-bench-wordcount
mkdir -p "$work"
text=$work/text-${mb}mb.txt
if [[ ! -s $text ]]; then
	echo "generating $text ..."
	"$bin/bench/bench_gentext" "$mb" >"$text"
fi
bytes=$(stat -c %s "$text")
for p in 1 2; do
	out=$work/out-p$p
	rm -rf "$out"
	/usr/bin/time -f '%e %U %S %M' -o "$work/time" \
		"$bin/flinc" run --local --no-progress -p "$p" -D "state.backend.type=$backend" \
		-D "taskmanager.state.local.root-dirs=$work" "$bin/examples/wordcount.so" \
		--mode "$mode" --input "$text" --output "$out" 2>"$work/log" || {
		tail -5 "$work/log"
		exit 1
	}
	read -r wall user sys rss_kb <"$work/time"
	words=$(cat "$out"/part-* | wc -l)
	counts=$(cat "$out"/part-* | wc -c)
	awk -v b="$bytes" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss_kb" -v p="$p" \
		-v words="$words" -v c="$counts" -v mode="$mode" -v be="$backend" 'BEGIN {
		printf "wordcount %s %s p=%d: %.0f MB in %.2f s = %.1f MB/s (CPU %.2f s), peak RSS %.1f MB, %d output lines (%.1f MB)\n",
			mode, be, p, b / 1e6, w, b / 1e6 / w, u + s, r / 1024, words, c / 1e6 }'
done
