#!/usr/bin/env bash
# The demo: installs what flinc needs, builds it, and runs WordCount on the
# local mini cluster (two TaskManagers exchanging data over loopback TCP).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release

bin=build/release
text=$(mktemp)
updates=$(mktemp)
trap 'rm -f "$text" "$updates"' EXIT
cat >"$text" <<'TEXT'
The quick brown fox jumps over the lazy dog.
The dog sleeps; the fox runs. A fox, a dog, a stream of words:
words flow through map, key_by and sum, and counts come out.
TEXT

echo
echo "== WordCount on the built-in text, parallelism 2, two TaskManagers (batch mode) =="
"$bin/flinc" run --local -p 2 -D local.number-taskmanager=2 \
	"$bin/examples/wordcount.so" --mode batch | sort
echo
echo "== WordCount on a file, streaming mode (every update; N> is the printing subtask) =="
# Into a file first: a reader that stops early (head) would fail the job's
# print sink with a broken pipe, as it should.
"$bin/flinc" run --local -p 2 "$bin/examples/wordcount.so" --input "$text" >"$updates"
head -n 20 "$updates"
echo
echo "== The job graph =="
"$bin/flinc" plan -p 2 "$bin/examples/wordcount.so" --input "$text"
