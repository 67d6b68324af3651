#!/usr/bin/env python3
"""Times a poplib session that retrieves every message of a maildrop.

Usage: poplib_retr_all.py HOST PORT USER PASSWORD
Prints JSON: messages, octets and seconds from connect to QUIT.
"""
import json
import poplib
import sys
import time


def main():
    host, port, user, password = sys.argv[1:5]
    start = time.perf_counter()
    pop = poplib.POP3(host, int(port), timeout=60)
    pop.user(user)
    pop.pass_(password)
    count, _ = pop.stat()
    octets = 0
    for n in range(1, count + 1):
        _, lines, _ = pop.retr(n)
        octets += sum(len(l) + 2 for l in lines)
    pop.quit()
    elapsed = time.perf_counter() - start
    json.dump({"messages": count, "octets": octets, "seconds": elapsed}, sys.stdout)


if __name__ == "__main__":
    main()
