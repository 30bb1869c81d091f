#!/usr/bin/env bash
# The job API end to end (jobs/api_ops.c): generator split, map / filter /
# flat_map, key_by field and function, reduce / sum / min / max on int64 and
# double, union, rebalance, broadcast, the print prefix rule, file sink part
# files, per-operator properties in `flinc plan`, and STREAMING / BATCH /
# AUTOMATIC runtime modes. Expected outputs are computed here with awk.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_setup
JOB=$JOBS/api_ops.so

# run_case TAG FLINC-OPTIONS... -- JOB-ARGS...: runs and checks FINISHED;
# $WORK/TAG.lines is stdout without print prefixes, sorted.
run_case() {
	local tag=$1
	shift
	local opts=()
	while [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	run_flinc "$tag" "${opts[@]}" "$JOB" "$@"
	check_finished "$tag"
	strip_prefix <"$WORK/$tag.out" | sort >"$WORK/$tag.lines"
}

# awk: doubles as the runtime prints them (all values here are halves).
AWK_FMT='function fmt(d) { return d == int(d) ? sprintf("%d", d) : sprintf("%.1f", d) }'

# --------------------------------------------------- generator, split
# Flink's NumberSequenceSource: subtask i of p reads the contiguous range
# n*i/p .. n*(i+1)/p - 1 (integer division).
gen_expected() { # gen_expected N P [SUBTASK]: "x<TAB>subtask<TAB>p" lines, in offset order
	awk -v n="$1" -v p="$2" -v only="${3:--1}" 'BEGIN {
		for (i = 0; i < p; i++) if (only < 0 || i == only)
			for (x = int(n * i / p); x < int(n * (i + 1) / p); x++) print x "\t" i "\t" p }'
}
for p in 1 3; do
	run_case "gen-p$p" -p $p -- --case gen --count 1000
	gen_expected 1000 $p | sort >"$WORK/gen-p$p.exp"
	same_file "gen-p$p: offsets 0..999 once each, subtask i of $p produced its contiguous range" \
		"$WORK/gen-p$p.exp" "$WORK/gen-p$p.lines"
done
run_case gen-p4-2tm -p 4 -D local.number-taskmanager=2 -- --case gen --count 1000
gen_expected 1000 4 | sort >"$WORK/gen-p4.exp"
same_file "gen-p4-2tm: split over 4 subtasks on 2 TaskManagers" "$WORK/gen-p4.exp" "$WORK/gen-p4-2tm.lines"

# ------------------------------------------------ map, filter, flat_map
run_case ops -p 2 -- --case ops --count 10000
awk 'BEGIN { for (x = 0; x < 10000; x++) if (x % 3 != 0) for (c = 0; c < x % 4; c++) print x "\t" c "\ts" x }' |
	sort >"$WORK/ops.exp"
same_file "ops: map -> filter -> flat_map (x % 4 copies) at p 2" "$WORK/ops.exp" "$WORK/ops.lines"

# ------------------------------------------------- keyed aggregations
# Rows ("k<x%13>", x, x/2) from one source subtask, keyed at p 3. Fields not
# aggregated come from the first record of the key (x = j for key kj).
N=10000
keyed_expected() { # keyed_expected AGG
	awk -v agg="$1" -v n=$N "$AWK_FMT"'
	BEGIN {
		m = (agg == "keyfn") ? 7 : 13
		for (x = 0; x < n; x++) {
			j = x % m
			if (!(j in first)) { first[j] = x; mn[j] = x; mx[j] = x }
			s[j] += x
			if (x < mn[j]) mn[j] = x
			if (x > mx[j]) mx[j] = x
		}
		for (j = 0; j < m; j++) {
			f = first[j]; k = "k" f % 13
			if (agg == "sum1" || agg == "keyfn") print k "\t" s[j] "\t" fmt(f / 2)
			else if (agg == "sum2") print k "\t" f "\t" fmt(s[j] / 2)
			else if (agg == "min1") print k "\t" mn[j] "\t" fmt(f / 2)
			else if (agg == "max1") print k "\t" mx[j] "\t" fmt(f / 2)
			else if (agg == "min2") print k "\t" f "\t" fmt(mn[j] / 2)
			else if (agg == "max2") print k "\t" f "\t" fmt(mx[j] / 2)
			else if (agg == "reduce") print k "\t" s[j] "\t" fmt(mx[j] / 2)
		}
	}' | sort
}
last_per_key() { awk -F'\t' '{ last[$1] = $0 } END { for (k in last) print last[k] }' "$1" | sort; }

for agg in sum1 sum2 min1 max1 min2 max2 reduce keyfn; do
	keyed_expected $agg >"$WORK/keyed-$agg.exp"
	run_case "keyed-$agg-batch" -p 3 -D execution.runtime-mode=BATCH -- --case "keyed-$agg" --count $N
	same_file "keyed-$agg-batch: one final row per key" "$WORK/keyed-$agg.exp" "$WORK/keyed-$agg-batch.lines"
	run_case "keyed-$agg-stream" -p 3 -D execution.runtime-mode=STREAMING -- --case "keyed-$agg" --count $N
	check "keyed-$agg-stream: one update per record ($N)" test "$(wc -l <"$WORK/keyed-$agg-stream.lines")" -eq $N
	strip_prefix <"$WORK/keyed-$agg-stream.out" >"$WORK/keyed-$agg-stream.ordered"
	last_per_key "$WORK/keyed-$agg-stream.ordered" >"$WORK/keyed-$agg-stream.last"
	same_file "keyed-$agg-stream: last update per key equals the final value" \
		"$WORK/keyed-$agg.exp" "$WORK/keyed-$agg-stream.last"
done
# Keyed exchange across TaskManagers (hash partitioning over TCP).
run_case keyed-sum1-2tm -p 3 -D execution.runtime-mode=BATCH -D local.number-taskmanager=2 -- --case keyed-sum1 --count $N
same_file "keyed-sum1-2tm: batch sum across 2 TaskManagers" "$WORK/keyed-sum1.exp" "$WORK/keyed-sum1-2tm.lines"

# ------------------------------------------------------ runtime modes
# No mode set: STREAMING (every update). AUTOMATIC with bounded sources: BATCH.
run_case mode-default -p 2 -- --case keyed-sum1 --count $N
check "mode-default: STREAMING, $N updates" test "$(wc -l <"$WORK/mode-default.lines")" -eq $N
run_case mode-auto -p 2 -D execution.runtime-mode=AUTOMATIC -- --case keyed-sum1 --count $N
same_file "mode-auto: AUTOMATIC on bounded input runs as BATCH" "$WORK/keyed-sum1.exp" "$WORK/mode-auto.lines"
plan_flinc plan-auto-bounded -D execution.runtime-mode=AUTOMATIC "$JOB" --case keyed-sum1
check "plan: AUTOMATIC with a bounded generator is mode BATCH" \
	grep -q '^Job "keyed-sum1": mode BATCH' "$WORK/plan-auto-bounded.out"
plan_flinc plan-auto-unbounded -D execution.runtime-mode=AUTOMATIC "$JOB" --case unbounded
check "plan: AUTOMATIC with an unbounded generator is mode STREAMING" \
	grep -q '^Job "unbounded": mode STREAMING' "$WORK/plan-auto-unbounded.out"

# --------------------------------------------------------------- union
run_case union -p 2 -- --case union --count 1000
awk 'BEGIN { for (x = 0; x < 1000; x++) print "a\t" x; for (x = 0; x < 500; x++) print "b\t" x * 10 }' |
	sort >"$WORK/union.exp"
same_file "union: both inputs, every record once" "$WORK/union.exp" "$WORK/union.lines"

# ----------------------------------------------- rebalance, broadcast
run_case rebalance -- --case rebalance --count 1000
cut -f1 "$WORK/rebalance.lines" | sort -n >"$WORK/rebalance.x"
seq 0 999 >"$WORK/seq1000"
same_file "rebalance: every record once" "$WORK/seq1000" "$WORK/rebalance.x"
cut -f2,3 "$WORK/rebalance.lines" | sort | uniq -c | awk '{ print $2, $3, $1 }' >"$WORK/rebalance.dist"
printf '0 4 250\n1 4 250\n2 4 250\n3 4 250\n' >"$WORK/rebalance.dist.exp"
same_file "rebalance: round robin, 250 records to each of 4 subtasks" "$WORK/rebalance.dist.exp" "$WORK/rebalance.dist"

run_case broadcast -- --case broadcast --count 100
awk 'BEGIN { for (x = 0; x < 100; x++) for (s = 0; s < 3; s++) print x "\t" s "\t3" }' | sort >"$WORK/broadcast.exp"
same_file "broadcast: each of 3 subtasks gets every record" "$WORK/broadcast.exp" "$WORK/broadcast.lines"

# ------------------------------------------------------- print prefix
run_case print-p1 -p 1 -- --case print --count 20
seq 0 19 >"$WORK/print-p1.exp"
same_file "print-p1: no prefix at parallelism 1, records in order" "$WORK/print-p1.exp" "$WORK/print-p1.out"
run_case print-p3 -p 3 -- --case print --count 30
check "print-p3: every line is 'N> x' with N the 1-based subtask (x in its range, 10 per subtask)" \
	awk '{ if ($0 !~ /^[1-3]> [0-9]+$/ || int($2 / 10) != $1 - 1) exit 1 }' "$WORK/print-p3.out"
same_file "print-p3: every record once" <(seq 0 29) <(cut -d' ' -f2 "$WORK/print-p3.out" | sort -n)
check "print-p3: each subtask's lines in offset order" \
	awk '{ if (($1 in last) && $2 <= last[$1]) exit 1; last[$1] = $2 }' "$WORK/print-p3.out"

# ----------------------------------------------------------- file sink
run_flinc files -p 3 "$JOB" --case files --count 1000 --output "$WORK/files-out"
check_finished files
# Published when the job FINISHED: one part file per subtask, named by the
# run (part-<run>-<subtask>), then _SUCCESS; nothing hidden is left.
run=$(sed -n 's/^Job has been submitted with JobID \([0-9a-f]\{16\}\).*/\1/p' "$WORK/files.err")
check "files: exactly part-<run>-0, -1, -2 and _SUCCESS" \
	test "$(cd "$WORK/files-out" && ls -A | tr '\n' ' ')" = "_SUCCESS part-$run-0 part-$run-1 part-$run-2 "
for i in 0 1 2; do
	gen_expected 1000 3 $i >"$WORK/part-$i.exp"
	same_file "files: part-<run>-$i holds subtask $i's records in order" "$WORK/part-$i.exp" "$WORK/files-out/part-$run-$i"
done

# ---------------------------------------- per-operator properties, plan
plan_flinc plan -p 3 "$JOB" --case plan
check "plan: exit 0" test "$RC" -eq 0
grep -E '^(Job|Vertex|  parallelism|  input|  head|  chain)' "$WORK/plan.out" | sed -E 's/ \[.*//' >"$WORK/plan.got"
cat >"$WORK/plan.exp" <<'PLAN'
Job "plan": mode STREAMING, default parallelism 3, max parallelism auto, slots needed 5
Vertex 1: Src -> M1
  parallelism 3, max parallelism 128, slot sharing group 'default'
  head  Src
  chain M1
Vertex 2: M2
  parallelism 3, max parallelism 128, slot sharing group 'default'
  input: vertex 1 (M1) via FORWARD
  head  M2
Vertex 3: M3 -> M4
  parallelism 3, max parallelism 128, slot sharing group 'default'
  input: vertex 2 (M2) via FORWARD
  head  M3
  chain M4
Vertex 4: M5 -> Even
  parallelism 3, max parallelism 128, slot sharing group 'default'
  input: vertex 3 (M4) via FORWARD
  head  M5
  chain Even
Vertex 5: M6 -> Sink
  parallelism 2, max parallelism 128, slot sharing group 'other'
  input: vertex 4 (Even) via REBALANCE
  head  M6
  chain Sink
PLAN
same_file "plan: chains split by disable_chaining / start_new_chain / parallelism / slot sharing group; 3 + 2 slots" \
	"$WORK/plan.exp" "$WORK/plan.got"
plan_flinc plan-maxp -p 3 -D pipeline.max-parallelism=64 "$JOB" --case plan
check "plan: pipeline.max-parallelism shows on the job and each vertex" \
	test "$(grep -c 'max parallelism 64' "$WORK/plan-maxp.out")" -eq 6
plan_flinc plan-dot --dot -p 3 "$JOB" --case plan
check "plan --dot: a digraph with 5 vertices and 4 edges" \
	awk '/^digraph/ { d = 1 } /^  v[0-9]+ \[label=/ { v++ } /^  v[0-9]+ -> v[0-9]+ / { e++ } END { exit !(d && v == 5 && e == 4) }' "$WORK/plan-dot.out"
RC=0
timeout -k 10 "$IT_TIMEOUT" "$FLINC" info -p 3 "$JOB" --case plan >"$WORK/info.out" 2>"$WORK/info.err" || RC=$?
check "info: exit 0" test "$RC" -eq 0
check "info: Flink's frame around the plan" \
	test "$(head -n 1 "$WORK/info.out")" = "----------------------- Execution Plan -----------------------"
sed -n '2,/^------------------------------------------------------------*$/p' "$WORK/info.out" | sed '$d' >"$WORK/info.json"
if jq -e '(.nodes | length) == 9 and .nodes[0].id == 1 and .nodes[0].pact == "Data Source" and
	(.nodes[-1] | .pact == "Data Sink" and .parallelism == 2) and
	([.nodes[] | select(.type == "M6") | .predecessors[0].ship_strategy] == ["REBALANCE"]) and
	([.nodes[] | select(.type == "M1") | .predecessors[0] | .id == 1 and .ship_strategy == "FORWARD"] == [true])' \
	"$WORK/info.json" >/dev/null; then
	pass "info: Flink's stream graph JSON, 9 operators before chaining, sources, sinks, ship strategies"
else
	fail "info: the plan JSON" "$(head -c 1200 "$WORK/info.out")"
fi
run_case plan-run -p 3 -- --case plan --count 1000
awk 'BEGIN { for (x = 0; x < 1000; x += 2) print x }' | sort >"$WORK/plan-run.exp"
same_file "plan-run: the 5-vertex job runs and keeps the even records" "$WORK/plan-run.exp" "$WORK/plan-run.lines"
check "plan-run: prefixes 1> and 2> only (sink parallelism 2)" \
	awk '{ if ($0 !~ /^[12]> /) exit 1 }' "$WORK/plan-run.out"
check "plan-run: 5 slots needed" grep -q "5 slots needed" "$(log_of plan-run)"

it_finish
