#!/usr/bin/env bash
# bench/run.sh [scenario…] — Petrel against its Debian peers on this machine.
#
# Scenarios: outbound pop3 smtp-accept ceiling imap imap-concurrency
# imap-steady memory
# (default: all; name some to run only those, e.g. `bench/run.sh imap
# memory`). Installs what it needs from Debian (postfix, dovecot-core,
# dovecot-pop3d, dovecot-lmtpd, dovecot-imapd, python3) when missing, builds
# petrel and the harness into bench/out/, then runs bench/out/benchrun,
# which starts Petrel and the peer on their own loopback addresses,
# alternates them for ROUNDS rounds and prints a table (also written to
# bench/out/results.md).
#
# Environment: ROUNDS (3), N (5000 messages; per scenario N_OUTBOUND,
# N_POP3, N_SMTP_ACCEPT, N_CEILING), RUN_TIMEOUT (10m, one measured run),
# MAX_TIME (2h, the whole benchmark), KEEP=1 keeps the work directory.
# IMAP (N does not apply): N_IMAP (10000 messages in the big mailbox),
# N_IMAP_CONCURRENCY (1000 messages per account), IMAP_CLIENTS (200),
# IMAP_ACCOUNTS (= IMAP_CLIENTS: one account per client), IMAP_SECONDS (30,
# each measured run of imap-concurrency), N_MEMORY (1000 idle connections),
# PROFILE=1 (perf profile of Petrel's IMAP steps, bench/out/profile-imap.txt).
# imap-steady: STEADY_CLIENTS (10 clients staying logged in), N_IMAP_STEADY
# (300 messages per INBOX), IMAP_SECONDS (each measured run), STEADY_CLIENT
# (raw: a lean client reading lines and literals; imapclient: go-imap's).
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
[ -x /usr/lib/dovecot/imap ] || need+=(dovecot-imapd)
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
go build -o bench/out/ ./bench/cmd/benchrun ./bench/cmd/benchinject ./bench/cmd/benchdns ./bench/cmd/benchimap

# ---- File descriptors: the memory scenario holds 1,000 IMAP connections
# (and Dovecot a process, with its pipes, for each). Everything started
# below inherits this limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 65536 ]; then
	ulimit -Hn 65536 2>/dev/null && ulimit -n 65536 || true
fi
echo "bench/run.sh: file descriptor limit $(ulimit -n)" >&2

# ---- inotify: Dovecot's IDLE takes an inotify instance in each imap
# process; beyond the kernel's default of 128 instances per user (all
# imap processes run as uid 65534) it logs "Inotify instance limit …
# exceeded, disabling" and polls instead. Raised to 2048 for the run,
# restored on exit (INOTIFY_KEEP=1 leaves it alone).
ino=/proc/sys/fs/inotify/max_user_instances
old_ino=
if [ -z "${INOTIFY_KEEP:-}" ] && [ -w "$ino" ] && [ "$(cat "$ino")" -lt 2048 ]; then
	old_ino=$(cat "$ino")
	echo 2048 >"$ino" && echo "bench/run.sh: $ino raised from $old_ino to 2048 for the run" >&2
fi

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
	if [ -n "$old_ino" ]; then
		echo "$old_ino" >"$ino" 2>/dev/null || true
		old_ino=
	fi
}
trap stop EXIT
trap 'stop; exit 130' INT TERM HUP
setsid bench/out/benchrun "$@" &
pid=$!
wait "$pid"
