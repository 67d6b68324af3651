"""The first hour's readers: Python's imaplib and poplib fetch the first
message of an account from `petrel serve --dev`, verifying its self-signed
certificate (a copy of data_dir/tls/cert.pem) for the name "localhost".

Usage: firsthour_clients.py USER PASSWORD CAFILE IMAPS_PORT POP3_PORT
Prints one JSON object: the whole message and its body (BODY[TEXT]) as IMAP
gives them, and the message as POP3 RETR gives it (without dot-stuffing).
"""
import base64
import imaplib
import json
import poplib
import ssl
import sys

user, password, cafile, imaps_port, pop3_port = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)

out = {}

# IMAP over TLS (IMAPS, port 993 or --dev's 9930).
m = imaplib.IMAP4_SSL("localhost", int(imaps_port), ssl_context=ctx)
m.login(user, password)
typ, data = m.select("INBOX", readonly=True)
out["imap_exists"] = int(data[0])
typ, data = m.fetch("1", "(BODY.PEEK[] BODY.PEEK[TEXT])")
parts = [d for d in data if isinstance(d, tuple)]
for spec, body in parts:
    key = "imap_text" if b"BODY[TEXT]" in spec else "imap_message"
    out[key] = base64.b64encode(body).decode()
m.logout()

# POP3 with STLS (port 110 or --dev's 1100).
p = poplib.POP3("localhost", int(pop3_port))
p.stls(context=ctx)
p.user(user)
p.pass_(password)
count, _ = p.stat()
out["pop_count"] = count
resp, lines, _ = p.retr(1)
out["pop_message"] = base64.b64encode(b"\r\n".join(lines) + b"\r\n").decode()
p.quit()

print(json.dumps(out))
