#!/usr/bin/env bash
# Text inputs that are not plain, unchanging files: a file truncated or
# appended to while the job reads it fails the job naming the file and both
# sizes (probe I11); a file that says 0 bytes (/proc), or whose size says
# nothing of its content (sysfs), is read to its end (I9); a FIFO is read as
# one stream (I8), and one without a writer holds the job only until it is
# cancelled or its writer comes (I7).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
LINES=$JOBS/text_lines.so
WC=$EXAMPLES/wordcount.so
IT_TIMEOUT=120
ID='[0-9a-f]{32}'

# ------------------------------------------------ files that change
# 3 MB of 20-byte lines read slowly (200 µs a line: 30 s for all), changed
# once the job runs.
head -c 3000000 < <(yes 'the quick brown fox') >"$WORK/orig.txt"
for change in truncate append; do
	tag=$change
	cp "$WORK/orig.txt" "$WORK/$tag.txt"
	start_flinc "$tag" "$LINES" --slow-us 200 "$WORK/$tag.txt"
	if wait_line "$tag" "^Job has been submitted with JobID" 30; then
		sleep 0.5
		if [ $change = truncate ]; then
			truncate -s 100 "$WORK/$tag.txt"
			now=100
		else
			head -n 1000 < <(yes 'appended line') >>"$WORK/$tag.txt"
			now=$((3000000 + 14000))
		fi
	fi
	wait_flinc 60
	expect_last "$tag" 1 "^Job 'TextLines' \($ID\) FAILED: source 'Source: Text File': file '$WORK/$tag\.txt' changed while being read: it had 3000000 bytes when the job was built, now $now$"
	check "$tag: failed early (${WAITED_MS} ms after the change, not at the end of the input)" \
		test "$WAITED_MS" -lt 20000
done

# ------------------------------------------------ size 0, FIFOs
if [ -r /proc/cpuinfo ] && [ "$(stat -c %s /proc/cpuinfo)" = 0 ]; then
	want=$(wc -l </proc/cpuinfo)
	for p in 1 2; do
		run_flinc "proc-p$p" -p $p "$LINES" /proc/cpuinfo
		check_finished "proc-p$p"
		check "proc-p$p: /proc/cpuinfo (0 bytes in stat) read to its end: $want lines" \
			grep -Eq "^([0-9]+> )?lines	$want$" "$WORK/proc-p$p.out"
	done
fi

# sysfs reports 4096 bytes for every attribute, whatever it holds: read to
# its end as a stream, not cut into splits of a size it does not have.
sys=/sys/devices/system/cpu/online
if [ -r $sys ] && [ "$(stat -c %s $sys)" != "$(wc -c <$sys)" ]; then
	want=$(wc -l <$sys)
	for p in 1 2; do
		run_flinc "sys-p$p" -p $p "$LINES" $sys
		check_finished "sys-p$p"
		check "sys-p$p: $sys ($(stat -c %s $sys) bytes in stat, $(wc -c <$sys) read) read to its end: $want lines" \
			grep -Eq "^([0-9]+> )?lines	$want$" "$WORK/sys-p$p.out"
	done
fi

mkfifo "$WORK/lines.fifo"
(seq 1 50000 | sed 's/^/line /' >"$WORK/lines.fifo") &
run_flinc fifo -p 2 "$LINES" "$WORK/lines.fifo"
wait
check_finished fifo
check "fifo: 50000 lines through a FIFO, read by one of 2 subtasks" \
	grep -Eq "^([0-9]+> )?lines	50000$" "$WORK/fifo.out"

(printf 'to be or\nnot to be\n' >"$WORK/lines.fifo") &
run_flinc fifo-wc "$WC" --input "$WORK/lines.fifo" --mode batch
wait
check_finished fifo-wc
check "fifo-wc: WordCount of a FIFO" \
	test "$(sort "$WORK/fifo-wc.out" | tr '\t\n' ' ')" = "be 2 not 1 or 1 to 2 "

# No writer yet: the job waits, and reads once the writer comes.
start_flinc fifo-late "$LINES" "$WORK/lines.fifo"
if wait_line fifo-late "^Job has been submitted with JobID" 30; then
	sleep 1
	seq 1 1000 >"$WORK/lines.fifo"
fi
wait_flinc 30
check_finished fifo-late
check "fifo-late: the late writer's 1000 lines were read" grep -Eq "^lines	1000$" "$WORK/fifo-late.out"

# No writer at all: SIGINT cancels the job that waits for one.
start_flinc fifo-none "$LINES" "$WORK/lines.fifo"
if wait_line fifo-none "^Job has been submitted with JobID" 30; then
	sleep 1
	kill -INT "$BG_PID"
fi
wait_flinc 30
expect_last fifo-none 130 "^Job 'TextLines' \($ID\) CANCELED after [0-9]+ ms$"

it_finish
