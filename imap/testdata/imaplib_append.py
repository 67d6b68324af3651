#!/usr/bin/env python3
"""Times APPENDs made with Python's imaplib, which leaves Nagle's algorithm
on and writes an APPEND literal and its closing CRLF in separate writes.

Usage: imaplib_append.py HOST PORT USER PASSWORD MESSAGE-FILE COUNT
Prints JSON: count, min_ms, p50_ms, max_ms of the APPENDs to "Drafts"
(created if missing), each timed from the command to its tagged OK.
"""
import imaplib
import json
import sys
import time


def main():
    host, port, user, password, path, count = sys.argv[1:7]
    with open(path, "rb") as f:
        msg = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    imap = imaplib.IMAP4(host, int(port), timeout=60)
    imap.login(user, password)
    imap.create("Drafts")  # NO when it exists
    times = []
    for _ in range(int(count)):
        t0 = time.perf_counter()
        typ, data = imap.append("Drafts", r"(\Draft)", None, msg)
        times.append((time.perf_counter() - t0) * 1000)
        if typ != "OK":
            sys.exit("APPEND: %s %s" % (typ, data))
    imap.logout()
    times.sort()
    json.dump({"count": len(times), "min_ms": times[0], "p50_ms": times[len(times) // 2],
               "max_ms": times[-1]}, sys.stdout)


if __name__ == "__main__":
    main()
