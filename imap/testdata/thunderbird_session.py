#!/usr/bin/env python3
"""A Thunderbird-like IMAP session with Python's imaplib, run by
imap/imaplib_test.go against a test server.

Usage: thunderbird_session.py HOST PORT USER PASSWORD CAFILE

It does what Thunderbird does on start-up: CAPABILITY, STARTTLS, LOGIN,
LIST, SELECT INBOX, UID FETCH 1:* (FLAGS), BODY.PEEK of the headers, then
IDLE. It prints "IDLING" when the server has accepted IDLE, waits for an
EXISTS (the test delivers a message), ends IDLE with DONE, fetches the new
message's headers, and prints a JSON summary on the last line.
"""
import imaplib
import json
import re
import ssl
import sys


def main():
    host, port, user, password, cafile = sys.argv[1:6]
    m = imaplib.IMAP4(host, int(port), timeout=10)
    out = {"caps_before_tls": sorted(m.capabilities)}
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    m.starttls(ssl_context=ctx)
    typ, _ = m.login(user, password)
    assert typ == "OK", typ
    typ, caps = m.capability()
    out["caps"] = caps[0].decode().split()

    typ, lines = m.list('""', "*")
    assert typ == "OK", typ
    out["list"] = [l.decode() for l in lines]

    typ, data = m.select("INBOX")
    assert typ == "OK", (typ, data)
    out["exists"] = int(data[0])

    typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
    assert typ == "OK", typ
    out["flags"] = {}
    for item in data:
        s = item.decode() if isinstance(item, bytes) else item[0].decode()
        mm = re.search(r"UID (\d+)", s)
        fm = re.search(r"FLAGS \(([^)]*)\)", s)
        if mm and fm:
            out["flags"][mm.group(1)] = fm.group(1).split()

    typ, data = m.uid("FETCH", "1:*", "(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])")
    assert typ == "OK", typ
    out["subjects"] = []
    for item in data:
        if isinstance(item, tuple):
            hdr = item[1].decode()
            sm = re.search(r"^Subject: (.*)\r$", hdr, re.M)
            out["subjects"].append(sm.group(1) if sm else None)

    # IDLE (RFC 2177) by hand: imaplib before Python 3.14 has no idle().
    tag = m._new_tag().decode()
    m.send(("%s IDLE\r\n" % tag).encode())
    line = m.readline().decode()
    assert line.startswith("+"), line
    print("IDLING", flush=True)
    got = None
    while got is None:
        line = m.readline().decode()
        if not line:
            raise SystemExit("connection closed in IDLE")
        mm = re.match(r"\* (\d+) EXISTS", line)
        if mm:
            got = int(mm.group(1))
    out["exists_in_idle"] = got
    m.send(b"DONE\r\n")
    while True:
        line = m.readline().decode()
        if line.startswith(tag):
            assert line.split()[1] == "OK", line
            break

    typ, data = m.fetch(str(got), "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK", typ
    out["new_subject"] = data[0][1].decode().strip()
    m.logout()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
