#!/usr/bin/env bash
# bench/run.sh [scenario…] — Petrel against its Debian peers on this machine.
#
# Scenarios: outbound pop3 smtp-accept ceiling (default: all). Installs
# what it needs from Debian (postfix, dovecot-core, dovecot-pop3d,
# dovecot-lmtpd, python3) when missing, builds petrel and the harness into
# bench/out/, then runs bench/out/benchrun, which starts Petrel and the peer
# on their own loopback addresses, alternates them for ROUNDS rounds and
# prints a table (also written to bench/out/results.md).
#
# Environment: ROUNDS (3), N (5000 messages; per scenario N_OUTBOUND,
# N_POP3, N_SMTP_ACCEPT, N_CEILING), RUN_TIMEOUT (10m, one measured run),
# MAX_TIME (2h, the whole benchmark), KEEP=1 keeps the work directory.
# Must run as root (Postfix and Dovecot start as root and drop privileges).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh: run as root (Postfix and Dovecot need it)" >&2
	exit 1
fi

# ---- Debian packages, installed only when missing, with no daemon started.
need=()
[ -x /usr/lib/postfix/sbin/master ] && [ -x /usr/sbin/smtp-source ] && [ -x /usr/sbin/smtp-sink ] || need+=(postfix)
[ -x /usr/sbin/dovecot ] || need+=(dovecot-core)
[ -x /usr/lib/dovecot/pop3 ] || need+=(dovecot-pop3d)
[ -x /usr/lib/dovecot/lmtp ] || need+=(dovecot-lmtpd)
[ -x /usr/bin/python3 ] || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
	echo "bench/run.sh: installing ${need[*]}" >&2
	made_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	rc=0
	{ apt-get install -y --no-install-recommends "${need[@]}" >/dev/null ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }; } || rc=$?
	[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
	[ $rc = 0 ] || { echo "bench/run.sh: apt-get install failed" >&2; exit 1; }
fi

# ---- Build.
mkdir -p bench/out
go build -o bench/out/petrel ./cmd/petrel
go build -o bench/out/ ./bench/cmd/benchrun ./bench/cmd/benchinject ./bench/cmd/benchdns

# ---- Run, in a process group of its own that is killed on any exit.
# benchrun stops what it started (each server in a process group of its
# own); if it was killed before it could, the groups it lists in
# bench/out/pgids are killed here.
pid=
export BENCH_PGIDS="$PWD/bench/out/pgids"
: >"$BENCH_PGIDS"
stop() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	while read -r g; do
		[ -n "$g" ] && kill -KILL -- "-$g" 2>/dev/null || true
	done <"$BENCH_PGIDS"
	: >"$BENCH_PGIDS"
}
trap stop EXIT
trap 'stop; exit 130' INT TERM HUP
setsid bench/out/benchrun "$@" &
pid=$!
wait "$pid"
