#!/usr/bin/env bash
# Text file output between processes: two runs into one directory (the
# second is refused while the first writes there; a killed run's lock goes
# with it), output that appears beside a running job, a commit that cannot
# publish every part file (nothing of the run is published, and the earlier
# output survives an overwrite), and output paths that cannot be read.
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
# The glob of subtask $1's in-progress file, of any run and job attempt:
# .part-<run>-<subtask>.inprogress.<attempt> (16 hex digits each).
H16='????????????????'
whole() { echo ".part-$H16-$1.inprogress.$H16"; }

# ------------------------------------------- two runs, one directory
# A runs into outc and waits for its FIFO; B, started meanwhile into the
# same directory, is refused at once instead of mixing its files with A's.
mkfifo "$WORK/a.fifo" "$WORK/b.fifo"
start_flinc runA "$WC" --input "$WORK/a.fifo" --output "$WORK/outc" --mode batch
A_PID=$BG_PID
wait_line runA "^Job has been submitted with JobID" 30 || true
start_flinc runB "$WC" --input "$WORK/b.fifo" --output "$WORK/outc" --mode batch
B_PID=$BG_PID
sleep 1.5
feed "$WORK/b.fifo" 'words of b'
wait_flinc 30
expect_last runB 1 "^Job 'WordCount' \($ID\) FAILED: another run is writing to the output directory '$WORK/outc' \(it holds the directory's lock until it ends\): wait for it to end or choose another directory$"
feed "$WORK/a.fifo" 'words of a'
BG_PID=$A_PID
wait_flinc 30
check_finished runA
a_run=$(run_of runA)
check "runA: outc holds A's part file and _SUCCESS, nothing of B ($(names "$WORK/outc"))" \
	test "$(names "$WORK/outc")" = "_SUCCESS part-$a_run-0 "
wait

# A killed run does not keep the directory locked.
mkfifo "$WORK/k.fifo"
start_flinc runK "$WC" --input "$WORK/k.fifo" --output "$WORK/outk" --mode batch
if wait_line runK "^Job has been submitted with JobID" 30; then
	sleep 0.3
	kill -9 "$BG_PID"
fi
wait_flinc 10 2>/dev/null # bash reports the kill
run_flinc after-kill "$WC" --input "$WORK/words.txt" --output "$WORK/outk" --mode batch
check_finished after-kill
check "after-kill: the killed run's lock did not outlive it; its output is published" \
	test -e "$WORK/outk/_SUCCESS" -a -e "$WORK/outk/part-$(run_of after-kill)-0"

# Output that appears while a run writes (a writer that takes no lock):
# the commit refuses to publish beside it, without overwrite.
mkfifo "$WORK/m.fifo"
start_flinc runM "$WC" --input "$WORK/m.fifo" --output "$WORK/outm" --mode batch
wait_line runM "^Job has been submitted with JobID" 30 || true
wait_file "$WORK/outm/$(whole 0)" 30 || true
: >"$WORK/outm/part-0000000000000000-0"
feed "$WORK/m.fifo" 'words of m'
wait_flinc 30
expect_last runM 1 "^Job 'WordCount' \($ID\) FAILED: committing the output failed: '$WORK/outm' meanwhile holds 'part-0000000000000000-0' of another run: not published beside it \(NO_OVERWRITE\)$"
check "runM: nothing of the run was published ($(names "$WORK/outm"))" \
	test "$(names "$WORK/outm")" = "part-0000000000000000-0 "
wait

# ------------------------------------- a commit that cannot publish
# An in-progress file removed before the job ends: the commit fails, and
# with fs.overwrite-files the earlier output is still there as it was.
for mode in overwrite fresh; do
	out=$WORK/out-$mode
	opts=()
	if [ $mode = overwrite ]; then
		run_flinc "earlier-$mode" "$WC" --input "$WORK/words.txt" --output "$out" --mode batch
		check_finished "earlier-$mode"
		opts=(-D fs.overwrite-files=true)
	fi
	before=$( (cd "$out" 2>/dev/null && ls -A && cat part-* 2>/dev/null) || true)
	rm -f "$WORK/d.fifo"
	mkfifo "$WORK/d.fifo"
	start_flinc "lost-$mode" -p 2 "${opts[@]}" "$WC" --input "$WORK/d.fifo" --output "$out" --mode batch
	if wait_file "$out/$(whole 1)" 30; then
		lost=$(compgen -G "$out/$(whole 1)")
		rm -f "$lost"
	fi
	feed "$WORK/d.fifo" 'words of the lost run'
	wait_flinc 30
	expect_last "lost-$mode" 1 "^Job 'WordCount' \($ID\) FAILED: committing the output failed: cannot publish '$out/\.part-[0-9a-f]{16}-1\.inprogress\.[0-9a-f]{16}': it is missing: No such file or directory$"
	after=$( (cd "$out" 2>/dev/null && ls -A && cat part-* 2>/dev/null) || true)
	if [ $mode = overwrite ]; then
		check "lost-$mode: the earlier output is there as it was" test "$after" = "$before"
	else
		check "lost-$mode: nothing was published ($(names "$out"))" test -z "$(names "$out")"
	fi
	wait
done

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
