#!/usr/bin/env bash
# Text file output as a user meets it: output paths that cannot be read
# are reported as such, not as output that already exists.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
WC=$EXAMPLES/wordcount.so
IT_TIMEOUT=60
ID='[0-9a-f]{32}'

printf 'to be or\nnot to be\n' >"$WORK/words.txt"

# feed FIFO TEXT: writes TEXT into FIFO in the background, giving up after
# 20 s when nobody opens it (a run that was refused never reads it).
feed() { timeout 20 bash -c 'printf "%s\n" "$2" >"$1"' _ "$1" "$2" 2>/dev/null & }

# run_of TAG: the run id (first 16 hex digits of the job id) of run TAG.
run_of() { sed -nE 's/^Job has been submitted with JobID ([0-9a-f]{16}).*/\1/p' "$WORK/$1.err"; }

# names DIR: the directory's entries, hidden ones too, on one line.
names() { ls -A "$1" | tr '\n' ' '; }

# wait_file GLOB SECONDS: waits until GLOB matches a file.
wait_file() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		compgen -G "$1" >/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# ------------------------------------------- paths that cannot be read
run_flinc notdir "$WC" --input "$WORK/words.txt" --output "$WORK/words.txt/out" --mode batch
expect_last notdir 1 "FAILED: cannot read the output directory '$WORK/words\.txt/out': Not a directory$"
if [ "$(id -u)" != 0 ]; then
	mkdir -p "$WORK/closed/out"
	chmod 000 "$WORK/closed"
	run_flinc noaccess "$WC" --input "$WORK/words.txt" --output "$WORK/closed/out" --mode batch
	chmod 755 "$WORK/closed"
	expect_last noaccess 1 "FAILED: cannot read the output directory '$WORK/closed/out': Permission denied$"
fi

it_finish
