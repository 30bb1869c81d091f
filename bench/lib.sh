# Shared plumbing of the benchmark scripts, sourced from the repository's
# root. Java is the benchmark peer only: its sources under bench/flink/src
# are compiled into ~/.cache/flinc/flink-bench (XDG_CACHE_HOME), never into
# the repository.

# bench_need TOOL...: each is on PATH, or the benchmark stops saying which.
bench_need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || { echo "$t is needed" >&2; exit 1; }
	done
}

# bench_built FILE...: flinc's build outputs the benchmark runs exist.
bench_built() {
	local f
	for f in "$@"; do
		[ -e "$f" ] || { echo "missing $f: cmake --preset release && cmake --build --preset release" >&2; exit 1; }
	done
}

# flink_classpath: Flink 2.3.0's jars from Maven Central (~/.m2), once.
flink_classpath() { tests/flink-cli/classpath.sh bench/flink/pom.xml; }

# flink_classes CP NAME: compiles bench/flink/src/NAME.java against CP into a
# cache directory named by the source and the JDK, once; prints it.
flink_classes() {
	local cp=$1 name=$2 src=bench/flink/src/$2.java key dir
	key=$( (cat "$src"; java -version 2>&1) | sha256sum | cut -c1-16)
	dir=${XDG_CACHE_HOME:-$HOME/.cache}/flinc/flink-bench/$name-$key
	if [ ! -e "$dir/$name.class" ]; then
		mkdir -p "$dir.tmp.$$"
		javac -nowarn -cp "$cp" -d "$dir.tmp.$$" "$src" >&2
		rm -rf "$dir" && mv "$dir.tmp.$$" "$dir"
	fi
	echo "$dir"
}

# median: of the numbers on standard input.
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# record NAME VALUE: one figure of one run, kept in $W/NAME.
record() { echo "$2" >>"$W/$1"; }

# bench_workdir: W, a temporary directory, and PIDS, the processes started
# into it; on exit every one is sent TERM, waited for, and W removed (kept,
# and named, with BENCH_KEEP=1: the processes' logs are there).
bench_workdir() {
	W=$(mktemp -d)
	PIDS=()
	trap bench_cleanup EXIT
}
bench_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}

# bench_cluster_conf LEVEL: C, the options every process of a loopback flinc
# cluster shares (a fresh secret, loopback addresses, log.level LEVEL).
bench_cluster_conf() {
	local token
	token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	C=(-D "security.internal.token=$token" -D jobmanager.rpc.address=127.0.0.1
		-D jobmanager.bind-host=127.0.0.1 -D rest.address=127.0.0.1 -D taskmanager.host=127.0.0.1
		-D taskmanager.bind-host=127.0.0.1 -D "log.level=$1")
}

# free_port: a loopback port nothing listens on now.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

# cpu_ticks PID...: their user + system time, in clock ticks.
cpu_ticks() {
	local p s=0
	for p in "$@"; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
	echo "$s"
}
# rss_kb PID: its resident set, in kB.
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# bench_jm ARGS...: a flinc-jobmanager of $B with C and ARGS on free ports, its
# log $W/jm.log; REST and RPC are its ports, JM its pid (in PIDS).
bench_jm() {
	"$B/flinc-jobmanager" "${C[@]}" -D rest.port=0 -D jobmanager.rpc.port=0 "$@" >"$W/jm.log" 2>&1 &
	JM=$!
	PIDS+=("$JM")
	for _ in $(seq 200); do grep -q '^flinc-jobmanager: rest port' "$W/jm.log" && break; sleep 0.05; done
	REST=$(sed -nE 's/^flinc-jobmanager: rest port ([0-9]+) rpc .*/\1/p' "$W/jm.log")
	RPC=$(sed -nE 's/^flinc-jobmanager: rest port [0-9]+ rpc tcp:\/\/.*:([0-9]+)$/\1/p' "$W/jm.log")
	[ -n "$REST" ] && [ -n "$RPC" ] || { echo "the JobManager did not start:" >&2; tail -5 "$W/jm.log" >&2; exit 1; }
}
# bench_tm TAG ARGS...: a flinc-taskmanager registering with bench_jm's, its
# log $W/TAG.log; its pid in TM (and PIDS).
bench_tm() {
	local tag=$1
	shift
	"$B/flinc-taskmanager" "${C[@]}" -D jobmanager.rpc.port="$RPC" "$@" >"$W/$tag.log" 2>&1 &
	TM=$!
	PIDS+=("$TM")
}
# api PATH [curl args]: the JobManager's answer.
api() { curl -s "http://127.0.0.1:$REST$1" "${@:2}"; }
# wait_tms N: until /overview counts N TaskManagers (at most 10 s).
wait_tms() {
	for _ in $(seq 200); do
		[ "$(api /overview | jq -r .taskmanagers 2>/dev/null)" = "$1" ] && return 0
		sleep 0.05
	done
	echo "the TaskManagers did not register" >&2
	return 1
}
