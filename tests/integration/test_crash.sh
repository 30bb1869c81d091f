#!/usr/bin/env bash
# A user function that crashes the process (probe U3-U5): it dies of its
# signal (exit status 128+N, as a native crash takes a Flink TaskManager's
# JVM down), and the last line on stderr, also in the log file, names the
# job, the task and the function that was running.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
FAULTS=$JOBS/faults.so
IT_TIMEOUT=60
ID='[0-9a-f]{32}'
TASK='Source: Generator -> Faulty Map -> Sink: Print to Std. Out \(1/1\)'
TAIL='; the process exits, as a crashed JVM takes its TaskManager down$'

# An optimised build moves the noreturn abort() call into m_abort.cold, which
# has no dynamic symbol: the line then gives the object and offset that
# addr2line names.
#
# Under AddressSanitizer its own handlers would report these signals first
# (a fine report, but not ours): hand them to the runtime. Harmless in
# other builds.
export ASAN_OPTIONS="${ASAN_OPTIONS}:handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:detect_stack_use_after_return=0"

for c in "segv:139:SIGSEGV \(address 0x10\) in m_segv\(\) \[faults\.so\]" \
	"abort:134:SIGABRT in (m_abort\(\) \[faults\.so\]|code without an exported name \[faults\.so\+0x[0-9a-f]+\])" \
	"recurse:139:SIGSEGV \(address 0x[0-9a-f]+, a stack overflow\) in m_recurse\(\) \[faults\.so\]"; do
	mode=${c%%:*}
	rest=${c#*:}
	want=${rest%%:*}
	what=${rest#*:}
	re="^[0-9T:.-]+Z FATAL task job=$ID task=$TASK crashed with $what$TAIL"
	run_flinc "$mode" "$FAULTS" "$mode"
	if [ "$RC" -eq "$want" ] && last_err "$mode" | grep -Eq -- "$re"; then
		pass "$mode: exit $RC, last line: $(last_err "$mode" | cut -c26-200)..."
	else
		fail "$mode: expected exit $want and a last line matching /$re/ (exit $RC)" \
			"$(tail -n 3 "$WORK/$mode.err" | cut -c1-300)"
	fi
	check "$mode: the log file ends with the same line" \
		bash -c "[ \"\$(tail -n 1 '$(log_of "$mode")')\" = \"\$(tail -n 1 '$WORK/$mode.err')\" ]"
done

it_finish
