#!/usr/bin/env python3
"""A Thunderbird-like POP3 session with Python's poplib, for pop3's tests.

Usage: poplib_session.py HOST PORT USER PASSWORD CAFILE|- DELETE
Runs CAPA, STLS (when offered and CAFILE is given), USER/PASS, STAT, UIDL,
LIST, RETR of every message, DELE of every message whose number is a
multiple of DELETE (0: none) and QUIT, and prints what it saw as JSON.
"""
import hashlib
import json
import poplib
import ssl
import sys


def main():
    host, port, user, password, cafile, delete = sys.argv[1:7]
    delete = int(delete)
    out = {}
    pop = poplib.POP3(host, int(port), timeout=30)
    out["greeting"] = pop.getwelcome().decode()
    capa = pop.capa()
    out["capa"] = sorted(capa)
    if cafile != "-" and "STLS" in capa:
        ctx = ssl.create_default_context(cafile=cafile)
        pop.stls(context=ctx)
        out["tls"] = True
        out["capa_tls"] = sorted(pop.capa())
    out["user"] = pop.user(user).decode()
    out["pass"] = pop.pass_(password).decode()
    count, size = pop.stat()
    out["stat"] = [count, size]
    resp, lines, _ = pop.uidl()
    uidls = dict(l.decode().split(" ", 1) for l in lines)
    resp, lines, _ = pop.list()
    sizes = dict(l.decode().split(" ", 1) for l in lines)
    msgs = []
    for n in range(1, count + 1):
        resp, lines, octets = pop.retr(n)
        text = b"".join(l + b"\r\n" for l in lines)
        msgs.append({
            "n": n,
            "uidl": uidls[str(n)],
            "list": int(sizes[str(n)]),
            "resp": resp.decode(),
            "len": len(text),
            "sha256": hashlib.sha256(text).hexdigest(),
        })
        if delete and n % delete == 0:
            pop.dele(n)
    out["messages"] = msgs
    out["quit"] = pop.quit().decode()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
