#!/usr/bin/env bash
# `cmake --install` into a fresh prefix gives what a user needs: the CLI, the
# library, the header, a relocatable pkg-config file and a CMake package, and
# the example jobs. A job built with `cc ... $(pkg-config --cflags --libs
# flinc)` runs under the installed CLI; the same code linked into a program
# runs on its own; a CMake project finds flinc with find_package.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_setup
: "${FLINC_BUILD_DIR:?FLINC_BUILD_DIR must name the build directory}"
san=${FLINC_SANITIZE_FLAGS:-}

prefix=$WORK/prefix
if cmake --install "$FLINC_BUILD_DIR" --prefix "$prefix" >"$WORK/install.log" 2>&1; then
	pass "cmake --install into $prefix"
else
	fail "cmake --install" "$(tail -5 "$WORK/install.log")"
fi
for f in bin/flinc lib/libflinc.so include/flinc/flinc.h lib/pkgconfig/flinc.pc \
	lib/cmake/flinc/flincConfig.cmake share/flinc/examples/wordcount.so share/flinc/conf/flinc.yaml; do
	check "installed $f" test -e "$prefix/$f"
done
# The library exports exactly the functions flinc.h declares with FL_API:
# nothing internal (config, logging, the launcher) leaks into the ABI a job
# .so links against.
exported=$(nm -D --defined-only "$prefix/lib/libflinc.so" | awk '$2 ~ /^[TWDBR]$/ {print $3}' |
	grep -Ev '^(_init|_fini|_edata|_end|__bss_start)$' | sort)
declared=$(grep -oE '^FL_API [^(]*\b(fl_[a-z0-9_]+)\(' "$prefix/include/flinc/flinc.h" |
	grep -oE 'fl_[a-z0-9_]+\($' | tr -d '(' | sort)
if [ "$exported" = "$declared" ] && [ -n "$declared" ]; then
	pass "libflinc.so exports exactly the $(wc -l <<<"$declared") FL_API functions of flinc.h"
else
	fail "libflinc.so exports exactly the FL_API functions of flinc.h" \
		"exported, not declared: $(comm -23 <(echo "$exported") <(echo "$declared") | tr '\n' ' ')" \
		"declared, not exported: $(comm -13 <(echo "$exported") <(echo "$declared") | tr '\n' ' ')"
fi

cat >"$WORK/job.c" <<'C'
#include <flinc/flinc.h>

int count_parse(fl_ctx *ctx, const fl_row *in, fl_row *out)
{
	size_t n;
	const char *s = fl_row_string(in, 0, &n);
	fl_row_add_string(out, s, n);
	return fl_row_add_int64(out, 1);
}

int main(int argc, char **argv)
{
	fl_env *env = fl_env_new(argc, argv);
	fl_env_set_runtime_mode(env, FL_MODE_BATCH);
	fl_print(fl_sum(fl_key_by(fl_map(fl_read_text_file(env, argv[1]), count_parse), 0), 1));
	int rc = fl_execute(env, "count lines");
	fl_env_free(env);
	return rc == 0 ? 0 : 1;
}
C
printf 'b\na\nb\nc\nb\n' >"$WORK/lines.txt"
printf 'a\t1\nb\t3\nc\t1\n' >"$WORK/expected.txt"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# shellcheck disable=SC2046,SC2086
if cc $san -shared -fPIC "$WORK/job.c" -o "$WORK/job.so" $(pkg-config --cflags --libs flinc) 2>"$WORK/cc.log"; then
	pass "a job builds with pkg-config"
else
	fail "a job builds with pkg-config" "$(head -5 "$WORK/cc.log")"
fi
FLINC=$prefix/bin/flinc run_flinc so "$WORK/job.so" "$WORK/lines.txt"
check "the installed CLI runs the job: FINISHED" finished so
same_file "the job's output is right" "$WORK/expected.txt" <(sort "$WORK/so.out")

# shellcheck disable=SC2046,SC2086
if cc $san -rdynamic "$WORK/job.c" -o "$WORK/job-bin" $(pkg-config --cflags --libs flinc) 2>"$WORK/cc2.log" &&
	timeout 60 "$WORK/job-bin" "$WORK/lines.txt" >"$WORK/bin.out" 2>"$WORK/bin.err"; then
	pass "the job linked into a program runs on its own"
else
	fail "the job linked into a program runs on its own" "$(tail -3 "$WORK/cc2.log" "$WORK/bin.err")"
fi
same_file "the program's output is right" "$WORK/expected.txt" <(sort "$WORK/bin.out")

mkdir -p "$WORK/cmakeproj"
cp "$WORK/job.c" "$WORK/cmakeproj/job.c"
cat >"$WORK/cmakeproj/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.16)
project(userjob C)
find_package(flinc 0.1 REQUIRED)
add_library(job MODULE job.c)
set_target_properties(job PROPERTIES PREFIX "")
target_compile_options(job PRIVATE $san)
target_link_options(job PRIVATE $san)
target_link_libraries(job PRIVATE flinc::flinc)
CM
if cmake -S "$WORK/cmakeproj" -B "$WORK/cmakeproj/build" -DCMAKE_PREFIX_PATH="$prefix" >"$WORK/cm.log" 2>&1 &&
	cmake --build "$WORK/cmakeproj/build" >>"$WORK/cm.log" 2>&1; then
	pass "a CMake project finds flinc with find_package and builds a job"
else
	fail "a CMake project finds flinc with find_package" "$(tail -5 "$WORK/cm.log")"
fi
FLINC=$prefix/bin/flinc run_flinc cm "$WORK/cmakeproj/build/job.so" "$WORK/lines.txt"
check "the CMake-built job runs: FINISHED" finished cm
same_file "the CMake-built job's output is right" "$WORK/expected.txt" <(sort "$WORK/cm.out")
it_finish
