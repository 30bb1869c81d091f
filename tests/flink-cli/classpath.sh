#!/usr/bin/env bash
# Prints the Java classpath of Apache Flink's command line client
# (org.apache.flink.client.cli.CliFrontend: flink-clients and what it needs
# at run time, pom.xml beside this script), resolved from Maven Central into
# the machine-wide Maven cache (~/.m2/repository, or MAVEN_REPO_LOCAL).
# Nothing is downloaded into the repository.
#
#   tests/flink-cli/classpath.sh [POM]   the classpath on stdout, one line
#
# POM (default: the pom.xml beside this script) names another set of Flink
# jars to resolve the same way (bench/flink/pom.xml, the benchmark peer).
#
# Warm: the classpath of the last resolution of this very pom.xml (and
# MAVEN_REPO_LOCAL), kept in ~/.cache/flinc/flink-cli/ (XDG_CACHE_HOME),
# once every jar on it is still there: no JVM, no network. Otherwise
# Maven offline first, then online, each bounded by
# FLINK_CLI_RESOLVE_TIMEOUT seconds (default 900; a cold resolution
# fetches about 100 MB, in 8-10 s here). When the jars cannot be had, exits 1
# naming what is missing and what Maven said, on stderr.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pom=${1:-$here/pom.xml}
[ -r "$pom" ] || { echo "classpath.sh: $pom not found" >&2; exit 1; }
pom=$(cd "$(dirname "$pom")" && pwd)/$(basename "$pom")
timeout_s=${FLINK_CLI_RESOLVE_TIMEOUT:-900}
if [ "$pom" = "$here/pom.xml" ]; then
	what="Apache Flink's CLI (org.apache.flink:flink-clients:2.3.0 and its dependencies, $pom)"
else
	what="the dependencies of $pom"
fi

cache_dir=${XDG_CACHE_HOME:-$HOME/.cache}/flinc/flink-cli
key=$( (cat "$pom" "${BASH_SOURCE[0]}"; echo "${MAVEN_REPO_LOCAL:-}") | sha256sum | cut -c1-16)
cached=$cache_dir/classpath-$key.txt

# every_jar FILE: FILE holds a classpath whose every entry is a readable jar.
every_jar() {
	local cp entry
	cp=$(cat "$1") || return 1
	[ -n "$cp" ] || return 1
	local IFS=:
	for entry in $cp; do
		[ -r "$entry" ] || return 1
	done
}

if [ -s "$cached" ] && every_jar "$cached"; then
	cat "$cached"
	echo
	exit 0
fi

command -v mvn >/dev/null || {
	echo "classpath.sh: mvn (Maven) not found: it is needed to resolve $what (Debian's maven package: scripts/install-deps.sh)" >&2
	exit 1
}

repo_args=()
[ -n "${MAVEN_REPO_LOCAL:-}" ] && repo_args=(-Dmaven.repo.local="$MAVEN_REPO_LOCAL")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/flink-cli-cp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
resolve() { # resolve LOG [mvn options...]
	local log=$1
	shift
	timeout -k 10 "$timeout_s" mvn -B -ntp "$@" "${repo_args[@]}" -f "$pom" \
		-Dmaven.wagon.http.retryHandler.count=3 \
		-Dmaven.wagon.httpconnectionManager.ttlSeconds=60 \
		org.apache.maven.plugins:maven-dependency-plugin:3.8.1:build-classpath -Dmdep.outputFile="$tmp/cp.txt" >"$log" 2>&1
}

rc=0
resolve "$tmp/offline.log" -o || rc=$?
if [ "$rc" != 0 ] || ! every_jar "$tmp/cp.txt"; then
	echo "classpath.sh: resolving $what from Maven Central (at most ${timeout_s} s)" >&2
	start=$(date +%s)
	rc=0
	resolve "$tmp/online.log" -U || rc=$?
	if [ "$rc" != 0 ] || ! every_jar "$tmp/cp.txt"; then
		if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			echo "classpath.sh: Maven did not finish resolving $what within ${timeout_s} s" >&2
		else
			echo "classpath.sh: cannot resolve $what from Maven Central into ${MAVEN_REPO_LOCAL:-$HOME/.m2/repository} (mvn exit $rc). Maven said:" >&2
		fi
		# Maven's errors first (what could not be resolved), then its first
		# transfer failures (why), without its boilerplate.
		{
			grep -E '^\[ERROR\]' "$tmp/online.log" |
				grep -vE '^\[ERROR\] *$|Re-run Maven|full stack trace|-e switch|-X switch|For more information|^\[ERROR\] \[Help' |
				head -n 6
			grep -E '^\[WARNING\].*(transfer failed|Could not transfer)' "$tmp/online.log" | head -n 2
		} | cut -c1-800 | sed 's/^/    /' >&2
		[ -s "$tmp/online.log" ] || echo "    (nothing)" >&2
		exit 1
	fi
	echo "classpath.sh: resolved in $(($(date +%s) - start)) s" >&2
fi
mkdir -p "$cache_dir"
cp "$tmp/cp.txt" "$cached.tmp.$$" && mv "$cached.tmp.$$" "$cached"
cat "$tmp/cp.txt"
echo
