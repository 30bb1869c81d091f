#!/usr/bin/env bash
# Fetches Apache Flink's web dashboard for the JobManager to serve at /: the
# Angular build in the web/ directory of org.apache.flink:flink-runtime-web,
# a jar on Maven Central, at the pinned release below. The jar and the
# extracted files live in the machine-wide cache ($FLINC_CACHE, default
# ~/.cache/flinc, as e2e/cluster's), never in the source tree; a second run
# finds them there and downloads nothing.
#
#   scripts/fetch-web.sh            fetch (if needed); print the directory
#   scripts/fetch-web.sh --dir      print the directory only (exit 1: not fetched)
#
# The jar comes through Maven itself (`mvn dependency:copy`, with the
# repositories of ~/.m2/settings.xml; -C makes Maven refuse a jar whose
# SHA-1 differs from the repository's .sha1). This script then checks the
# jar again against the .sha1 Maven saved from the repository and against
# the SHA-1 pinned here, so a changed artifact is refused, not served.
#
# flinc-jobmanager looks in the same directory when web.static-dir is unset
# (runtime/jobmanager/web.h pins the same release).
set -euo pipefail

FLINK_VERSION=2.3.0
JAR_SHA1=8c10a5ded0c002f74c45a5859af4063496705435
ARTIFACT=org.apache.flink:flink-runtime-web:$FLINK_VERSION:jar

CACHE=${FLINC_CACHE:-${HOME:-/root}/.cache/flinc}
DIR=$CACHE/web/flink-runtime-web-$FLINK_VERSION
JAR_DIR=$CACHE/jars
JAR=$JAR_DIR/flink-runtime-web-$FLINK_VERSION.jar
STAMP=$DIR/.flinc-web-sha1

die() {
	echo "fetch-web: $*" >&2
	exit 1
}

fetched() { [ -f "$DIR/index.html" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$JAR_SHA1" ]; }

if [ "${1:-}" = --dir ]; then
	fetched || die "the dashboard of Flink $FLINK_VERSION is not in $DIR: run scripts/fetch-web.sh"
	echo "$DIR"
	exit 0
fi
if fetched; then
	echo "$DIR"
	exit 0
fi

sha1_of() { sha1sum "$1" | cut -d' ' -f1; }

if [ ! -f "$JAR" ] || [ "$(sha1_of "$JAR")" != "$JAR_SHA1" ]; then
	command -v mvn >/dev/null || die "mvn is needed to fetch $ARTIFACT (Debian: apt-get install maven)"
	mkdir -p "$JAR_DIR"
	log=$(mktemp)
	echo "fetch-web: fetching $ARTIFACT with Maven" >&2
	if ! mvn -B -q -C dependency:copy -Dartifact="$ARTIFACT" -DoutputDirectory="$JAR_DIR" \
		-Dmdep.overWriteReleases=true >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		rm -f "$log"
		die "Maven could not fetch $ARTIFACT (is Maven Central reachable?)"
	fi
	rm -f "$log"
	[ -f "$JAR" ] || die "Maven reported success but $JAR is missing"
	# The .sha1 Maven fetched from the repository, beside the jar in its
	# local repository (elsewhere when settings.xml moves it: then the
	# pinned SHA-1 below is the check).
	remote_sha1="${MAVEN_LOCAL_REPO:-${HOME:-/root}/.m2/repository}/org/apache/flink/flink-runtime-web/$FLINK_VERSION/flink-runtime-web-$FLINK_VERSION.jar.sha1"
	if [ -f "$remote_sha1" ]; then
		want=$(cut -c1-40 "$remote_sha1")
		[ "$(sha1_of "$JAR")" = "$want" ] ||
			{ rm -f "$JAR"; die "$JAR does not match the repository's SHA-1 $want"; }
	fi
	[ "$(sha1_of "$JAR")" = "$JAR_SHA1" ] ||
		{ rm -f "$JAR"; die "$JAR has SHA-1 $(sha1_of "$JAR"), not the pinned $JAR_SHA1"; }
fi

command -v unzip >/dev/null || die "unzip is needed (Debian: apt-get install unzip)"
tmp=$(mktemp -d "$CACHE/web/.extract.XXXXXX" 2>/dev/null || { mkdir -p "$CACHE/web" && mktemp -d "$CACHE/web/.extract.XXXXXX"; })
trap 'rm -rf "$tmp"' EXIT
unzip -q "$JAR" 'web/*' -d "$tmp" || die "cannot extract web/ from $JAR"
[ -f "$tmp/web/index.html" ] || die "$JAR has no web/index.html"
echo "$JAR_SHA1" >"$tmp/web/.flinc-web-sha1"
rm -rf "$DIR"
mv "$tmp/web" "$DIR"
echo "fetch-web: Flink $FLINK_VERSION's dashboard is in $DIR ($(find "$DIR" -type f | wc -l) files)" >&2
echo "$DIR"
