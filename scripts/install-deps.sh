#!/usr/bin/env bash
# Installs the Debian packages flinc needs to build and test (root, Debian 12).
# Usage: scripts/install-deps.sh [--e2e]   (--e2e adds what the Kubernetes e2e suite needs)
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config git ca-certificates
	libnng-dev libmbedtls-dev libcjson-dev libyaml-dev liblmdb-dev libcurl4-openssl-dev libcmocka-dev
	time procps curl jq
	clang-14 libclang-rt-14-dev
	openjdk-17-jre-headless maven unzip chromium fonts-liberation)
# clang-14 builds the fuzz preset; on Debian 12 libFuzzer and clang's
# sanitizer runtimes (libclang_rt.fuzzer*.a, libclang_rt.asan*.a) are in
# libclang-rt-14-dev, which clang-14 only recommends.
# Java 17 and Maven run Apache Flink's own CLI against a flinc JobManager
# (integration.flink_cli); its jars come from Maven Central into ~/.m2 when
# the test first runs (tests/flink-cli/classpath.sh), not here.
# maven and unzip fetch and unpack Flink's web dashboard (scripts/fetch-web.sh);
# chromium (headless) and a font render it in integration.dashboard.
if [[ ${1:-} == --e2e ]]; then
	pkgs+=(docker.io containerd runc containernetworking-plugins etcd-server debootstrap
		openssl iptables iproute2 conntrack socat curl)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	exit 0
fi
if [[ $(id -u) != 0 ]]; then
	echo "install-deps: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
	echo "install-deps: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
