#!/usr/bin/env bash
# The client (`flinc run`): what stderr shows without -v (the log file's
# path, the job id, warnings and errors, the final line, always last) and
# the INFO log in its file; -v; a log file it must refuse; SIGPIPE, SIGINT
# and SIGTERM; a closed stdout; exit() in user code; arguments and
# configuration that must neither flood stderr nor hang.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
WC=$EXAMPLES/wordcount.so
FAULTS=$JOBS/faults.so
IT_TIMEOUT=60
ID='[0-9a-f]{32}'

# --------------------------------------------- stderr and the log file
run_flinc quiet "$WC" --mode batch
check_finished quiet
log=$(log_of quiet)
check "quiet: stderr is the log file's path, the job id and the final line, nothing else" \
	awk -v lf="$log" '
		NR == 1 && $0 != "Log file: " lf { exit 1 }
		NR == 2 && $0 !~ /^Job has been submitted with JobID [0-9a-f]+$/ { exit 1 }
		NR == 2 { id = substr($0, length("Job has been submitted with JobID ") + 1) }
		NR == 3 && index($0, "Job '\''WordCount'\'' (" id ") FINISHED in ") != 1 { exit 1 }
		END { exit NR != 3 }' "$WORK/quiet.err"
check "quiet: no INFO line on stderr" no_info_on_stderr quiet
check "quiet: the log file holds the INFO log" \
	grep -q "INFO  jobmaster .*switched from state CREATED to RUNNING" "$log"
check "quiet: the log file has a header with the pid and the command line" \
	grep -Eq "INFO  client ==== flinc [0-9.]+ client, pid [0-9]+: .*flinc run --local .*wordcount\.so --mode batch$" "$log"
check "quiet: the log file also has the job id and the final line" \
	bash -c "grep -q 'Job has been submitted with JobID' '$log' && grep -q 'FINISHED in' '$log'"
check "quiet: the log file is private (mode 600)" test "$(stat -c %a "$log")" = 600

# The default file: flinc-USER-client-HOST.log under $TMPDIR, appended by
# every run.
mkdir -p "$WORK/tmp" "$WORK/tmpv"
default_run() { # default_run TAG TMPDIR [flinc options]
	local tag=$1 tmp=$2
	shift 2
	RC=0
	TMPDIR=$tmp timeout -k 10 "$IT_TIMEOUT" "$FLINC" run --local --no-progress "$@" "$WC" \
		--mode batch >"$WORK/$tag.out" 2>"$WORK/$tag.err" || RC=$?
}
default_run default1 "$WORK/tmp"
check_finished default1
default_run default2 "$WORK/tmp"
check_finished default2
deflog=$(find "$WORK/tmp" -name 'flinc-*-client-*.log')
check "default: one log file, $WORK/tmp/flinc-USER-client-HOST.log" \
	test "$(echo "$deflog" | wc -l)" -eq 1 -a -n "$deflog"
check "default: its path is printed once" \
	test "$(grep -c "^Log file: $deflog\$" "$WORK/default1.err")" -eq 1
check "default: each run appends a header" \
	test "$(grep -c 'INFO  client ==== flinc' "$deflog")" -eq 2

# -v: the INFO log on stderr, no file.
default_run verbose "$WORK/tmpv" -v
check_finished verbose
check "verbose: INFO lines on stderr" grep -q "INFO  jobmaster .*switched from state CREATED to RUNNING" "$WORK/verbose.err"
check "verbose: no log file, no 'Log file:' line" \
	bash -c "[ -z \"\$(ls -A '$WORK/tmpv')\" ] && ! grep -q '^Log file:' '$WORK/verbose.err'"

# A log file that must not be used: the run goes on, logging to stderr.
ln -s "$WORK/elsewhere.log" "$WORK/link.log"
run_flinc log-link -D "log.file=$WORK/link.log" "$WC" --mode batch
check_finished log-link
check "log-link: a warning says the symbolic link is refused and the log goes to stderr" \
	grep -Eq "WARN  client log file '.*/link\.log' is a symbolic link: refused.*; the log goes to stderr instead" "$WORK/log-link.err"
check "log-link: nothing was written through the link" test ! -e "$WORK/elsewhere.log"
check "log-link: the INFO log is on stderr instead" grep -q "INFO  jobmaster" "$WORK/log-link.err"
# A file with a second name (a hard link planted in a shared directory
# can name any file of ours): refused.
: >"$WORK/precious.txt"
ln "$WORK/precious.txt" "$WORK/hard.log"
run_flinc log-hard -D "log.file=$WORK/hard.log" "$WC" --mode batch
check_finished log-hard
check "log-hard: a warning says the file has 2 hard links and is refused" \
	grep -Eq "WARN  client log file '.*/hard\.log' has 2 hard links: refused.*; the log goes to stderr instead" "$WORK/log-hard.err"
check "log-hard: nothing was written to it" test ! -s "$WORK/precious.txt"
if [ "$(id -u)" = 0 ]; then
	: >"$WORK/other.log"
	chown 65534 "$WORK/other.log"
	run_flinc log-other -D "log.file=$WORK/other.log" "$WC" --mode batch
	check_finished log-other
	check "log-other: another user's log file is refused, saying why" \
		grep -Eq "WARN  client log file '.*/other\.log' belongs to uid 65534, not to uid 0 running flinc" "$WORK/log-other.err"
	check "log-other: nothing was written to it" test ! -s "$WORK/other.log"
fi

# A log file path too long for the client: refused naming log.file, never
# cut short into another file (the first 4095 bytes of these paths name
# $WORK/t and $WORK/tmpd/flin).
pad() { # pad PREFIX LEN: PREFIX followed by "/." up to LEN bytes (LEN - |PREFIX| even)
	local p=$1
	while [ ${#p} -lt "$2" ]; do p="$p/."; done
	printf '%s' "$p"
}
[ $(((4093 - ${#WORK}) % 2)) = 0 ] && long=$(pad "$WORK" 4093) || long=$(pad "$WORK/" 4093)
run_flinc log-long -D "log.file=$long/trunc.log" "$WC" --mode batch
check_finished log-long
check "log-long: a warning names log.file and says the path is too long" \
	grep -Eq "WARN  client log file '.{200}\.\.\.' \(log\.file\) is longer than 4095 bytes: refused; the log goes to stderr instead" "$WORK/log-long.err"
check "log-long: nothing was written to the path cut short" test ! -e "$WORK/t"
check "log-long: the INFO log is on stderr instead" grep -q "INFO  jobmaster" "$WORK/log-long.err"
mkdir -p "$WORK/tmpd"
[ $(((4090 - ${#WORK} - 5) % 2)) = 0 ] && longtmp=$(pad "$WORK/tmpd" 4090) || longtmp=$(pad "$WORK/tmpd/" 4090)
RC=0
TMPDIR=$longtmp timeout -k 10 "$IT_TIMEOUT" "$FLINC" run --local --no-progress "$WC" --mode batch \
	>"$WORK/tmp-long.out" 2>"$WORK/tmp-long.err" || RC=$?
check_finished tmp-long
check "tmp-long: a warning says the default log file would be too long and to set log.file" \
	grep -Eq "WARN  client the default log file under TMPDIR '.{200}\.\.\.' would be longer than 4095 bytes: set log\.file to a shorter path; the log goes to stderr instead" "$WORK/tmp-long.err"
check "tmp-long: nothing was written to the path cut short" test -z "$(ls -A "$WORK/tmpd")"

# The header hides the values of sensitive keys.
run_flinc secret -D "my.password=hunter2" "$WC" --mode batch
check_finished secret
check "secret: the header shows my.password=****** and the value is nowhere" \
	bash -c "grep -q 'my.password=\*\*\*\*\*\*' '$(log_of secret)' && ! grep -q hunter2 '$(log_of secret)' '$WORK/secret.err'"

# --------------------------------------------------------------- SIGPIPE
# A closed stdout fails the print sink cleanly: the process is not killed
# by SIGPIPE, and the FAILED line names the sink and the reason.
head -c 2000000 < <(yes 'the quick brown fox jumps over the lazy dog') >"$WORK/mid.txt"
{
	rc=0
	timeout -k 10 "$IT_TIMEOUT" "$FLINC" run --local --no-progress -D "log.file=$WORK/pipe.log" \
		"$WC" --input "$WORK/mid.txt" 2>"$WORK/pipe.err" || rc=$?
	echo "$rc" >"$WORK/pipe.rc"
} | head -n 1 >"$WORK/pipe.out"
RC=$(cat "$WORK/pipe.rc")
expect_last pipe 1 "^Job 'WordCount' \($ID\) FAILED: print sink: cannot write to stdout: Broken pipe$"
check "pipe: head got its one line" test "$(wc -l <"$WORK/pipe.out")" -eq 1

# A process the job starts gets SIGPIPE at its default, not ignored: the
# client catches SIGPIPE with a handler (reset by exec) rather than
# ignoring it (inherited). flinc starts with SIGPIPE at its default, as
# from a shell, whatever the test runner left it at.
RC=0
timeout -k 10 "$IT_TIMEOUT" env --default-signal=PIPE "$FLINC" run --local --no-progress \
	-D "log.file=$WORK/spawn.log" "$JOBS/spawn.so" \
	"grep '^SigIgn:' /proc/self/status >'$WORK/child.sig'" >"$WORK/spawn.out" 2>"$WORK/spawn.err" || RC=$?
check_finished spawn
mask=$(awk '{print $2}' "$WORK/child.sig" 2>/dev/null || true)
check "spawn: SIGPIPE is not ignored in a process the job starts (SigIgn: ${mask:-?})" \
	test -n "$mask" -a $((0x${mask:-0} & (1 << ($(kill -l PIPE) - 1)))) -eq 0

# ------------------------------------------------- SIGINT/SIGTERM/SIGHUP
# start_flinc_sigs DISPOSITIONS TAG ARGS...: start_flinc with SIGHUP too as
# DISPOSITIONS says (env options), whatever the test runner left it at:
# --default-signal=INT,TERM,HUP is a run from a terminal.
start_flinc_sigs() {
	local how=$1 tag=$2
	shift 2
	setsid env $how "$FLINC" run --local --no-progress \
		-D "log.file=$WORK/$tag.log" "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
	BG_PID=$!
}

# A WordCount that runs until it is stopped: its input is a FIFO fed by
# `yes`. The signal comes once the job is RUNNING (its id printed). SIGHUP
# (the terminal closed) cancels it as SIGTERM does.
for sig in INT TERM HUP; do
	tag=sig$sig
	want=$((128 + $(kill -l $sig)))
	rm -f "$WORK/words.fifo"
	mkfifo "$WORK/words.fifo"
	yes 'the quick brown fox' >"$WORK/words.fifo" 2>/dev/null &
	writer=$!
	start_flinc_sigs --default-signal=INT,TERM,HUP "$tag" "$WC" --input "$WORK/words.fifo" \
		--mode batch --output "$WORK/$tag-out"
	if wait_line "$tag" "^Job has been submitted with JobID" 30; then
		sleep 0.5
		kill -s $sig "$BG_PID"
	fi
	wait_flinc 30
	kill "$writer" 2>/dev/null || true
	wait "$writer" 2>/dev/null || true
	expect_last "$tag" "$want" "^Job 'WordCount' \($ID\) CANCELED after [0-9]+ ms$"
	check "$tag: the cancellation was announced" \
		grep -Eq "^Cancelling the job \(SIG$sig\); " "$WORK/$tag.err"
	check "$tag: ended ${WAITED_MS} ms after the signal (bound 30 s)" test "$RC" -ne 124
done
check "sigINT: the line says how to exit at once" \
	grep -q "^Cancelling the job (SIGINT); press Ctrl-C again to exit at once$" "$WORK/sigINT.err"

# SIGHUP ignored when flinc starts (nohup): it stays ignored, the job runs
# on until something else stops it.
rm -f "$WORK/words.fifo"
mkfifo "$WORK/words.fifo"
yes 'the quick brown fox' >"$WORK/words.fifo" 2>/dev/null &
writer=$!
start_flinc_sigs "--default-signal=INT,TERM --ignore-signal=HUP" nohup "$WC" \
	--input "$WORK/words.fifo" --mode batch --output "$WORK/nohup-out"
alive=no
if wait_line nohup "^Job has been submitted with JobID" 30; then
	sleep 0.5
	kill -HUP "$BG_PID"
	sleep 1
	kill -0 "$BG_PID" 2>/dev/null && alive=yes
	kill -TERM "$BG_PID"
fi
wait_flinc 30
kill "$writer" 2>/dev/null || true
wait "$writer" 2>/dev/null || true
check "nohup: an ignored SIGHUP left the job running" test $alive = yes
expect_last nohup 143 "^Job 'WordCount' \($ID\) CANCELED after [0-9]+ ms$"

# No job running yet (main() still building its graph): exit at once.
start_flinc sig-idle "$FAULTS" ok --idle-ms 30000
if wait_line sig-idle "^Log file: " 30; then
	sleep 0.3
	kill -INT "$BG_PID"
fi
wait_flinc 10
expect_last sig-idle 130 "^Interrupted by SIGINT while no job was running: exiting$"
check "sig-idle: exited within 5 s of the signal (${WAITED_MS} ms)" test "$WAITED_MS" -lt 5000
check "sig-idle: no job was submitted" bash -c "! grep -q 'submitted with JobID' '$WORK/sig-idle.err'"

# A job that does not react to cancellation: a second SIGINT exits at once.
start_flinc sig-twice "$FAULTS" stuck
if wait_line sig-twice "^Job has been submitted with JobID" 30; then
	sleep 0.5
	kill -INT "$BG_PID"
	wait_line sig-twice "^Cancelling the job" 10 || true
	sleep 0.5
	kill -0 "$BG_PID" 2>/dev/null && echo "sig-twice: still running after the first SIGINT, as it should"
	kill -INT "$BG_PID"
fi
wait_flinc 10
expect_last sig-twice 130 "^Exiting at once on a second SIGINT, without waiting for the job to be cancelled$"

# -------------------------------------------------- exit() in user code
for m in exit:3 exit0:0; do
	mode=${m%:*} n=${m#*:}
	run_flinc "user-$mode" "$FAULTS" "$mode"
	expect_last "user-$mode" 1 \
		"^Job 'Faults' \($ID\) FAILED: the process exited \(exit\($n\) called from user code\?\) while the job was running$"
done

# ------------------------------------------------------ closed stdout
RC=0
timeout -k 10 "$IT_TIMEOUT" "$FLINC" run --local --no-progress -D "log.file=$WORK/closed.log" \
	"$WC" >&- 2>"$WORK/closed.err" || RC=$?
expect_last closed 1 "^Job 'WordCount' \($ID\) FAILED: print sink: cannot write to stdout: stdout is closed$"
check "closed: a warning says stdout is closed" grep -q "WARN  client stdout (descriptor 1) was closed .*stdout is closed" "$WORK/closed.err"
check "closed: never 'Invalid argument' (fd 1 reused by another file)" bash -c "! grep -q 'Invalid argument' '$WORK/closed.err'"

# ------------------------------------------------ arguments, configuration
big=$(head -c 100000 /dev/zero | tr '\0' a)
run_flinc huge-value -D "foo.bar=$big" "$WC"
check "huge-value: refused (exit 2) in a short message naming the key" \
	bash -c "[ $RC -eq 2 ] && [ \$(wc -c <'$WORK/huge-value.err') -lt 1000 ] && grep -q \"key 'foo.bar' (-D) is longer than 65536 bytes\" '$WORK/huge-value.err'"
run_flinc huge-key -D "$big=1" "$WC"
check "huge-key: refused (exit 2) in a short message" \
	bash -c "[ $RC -eq 2 ] && [ \$(wc -c <'$WORK/huge-key.err') -lt 1000 ] && grep -q 'key longer than 256 bytes' '$WORK/huge-key.err'"
run_flinc huge-p -p "$big" "$WC"
check "huge-p: refused (exit 2), the value cut at 80 bytes" \
	bash -c "[ $RC -eq 2 ] && [ \$(wc -c <'$WORK/huge-p.err') -lt 300 ] && grep -q \"not 'a\{80\}\.\.\.'\" '$WORK/huge-p.err'"
run_flinc secret-D -D "db.password:hunter2" "$WC"
check "secret-D: a malformed secret is refused without being shown" \
	bash -c "[ $RC -eq 2 ] && grep -q 'expected key=value' '$WORK/secret-D.err' && ! grep -q hunter2 '$WORK/secret-D.err'"

FLINC_CONF_DIR=$WORK/no-such-conf run_flinc confdir-missing "$WC"
check "confdir-missing: refused (exit 2), naming the directory and the reason" \
	bash -c "[ $RC -eq 2 ] && grep -q \"the configuration directory '$WORK/no-such-conf' (FLINC_CONF_DIR) cannot be used: No such file or directory\" '$WORK/confdir-missing.err'"
FLINC_CONF_DIR=$WORK/mid.txt run_flinc confdir-file "$WC"
check "confdir-file: refused (exit 2): not a directory" \
	bash -c "[ $RC -eq 2 ] && grep -q 'is not a directory' '$WORK/confdir-file.err'"
mkdir -p "$WORK/empty-conf"
FLINC_CONF_DIR=$WORK/empty-conf run_flinc confdir-empty "$WC" --mode batch
check_finished confdir-empty

# -c FIFO: waited for at most 10 s, with a line saying so; read when written.
mkfifo "$WORK/conf.fifo"
run_flinc conf-fifo-idle -c "$WORK/conf.fifo" "$WC"
check "conf-fifo-idle: refused (exit 2) after saying it waits" \
	bash -c "[ $RC -eq 2 ] && grep -q 'conf.fifo is a FIFO: waiting up to 10 s for a writer' '$WORK/conf-fifo-idle.err' && grep -q 'no configuration arrived within 10 s' '$WORK/conf-fifo-idle.err'"
(sleep 1 && printf 'parallelism.default: 2\n' >"$WORK/conf.fifo") &
run_flinc conf-fifo -c "$WORK/conf.fifo" "$WC" --mode batch
wait
check_finished conf-fifo
check "conf-fifo: the configuration from the FIFO applies (two print subtasks)" \
	grep -q '^2> ' "$WORK/conf-fifo.out"

it_finish
