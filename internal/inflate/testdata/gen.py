# Makes partial-flush-N.json (N: zlib's level): the commands of an IMAP
# session after "COMPRESS DEFLATE", as zlib compresses them with
# Z_PARTIAL_FLUSH after each one (raw DEFLATE, as mbsync sends them), so a
# test can check the server answers each command before the next one's
# octets arrive. Run: python3 gen.py
import base64, json, random, zlib

random.seed(4978)
body = b"".join(b"Line %d of a message body with some text.\r\n" % i for i in range(46))
noise = bytes(random.randrange(0x80, 0x100) for _ in range(600))
chunks = [
    b"b SELECT INBOX\r\n",
    b"c UID FETCH 1:* (FLAGS)\r\n",
    b"d UID FETCH 1:* (FLAGS)\r\n",  # all back-references to the last
    b"e APPEND INBOX {%d+}\r\n" % (len(body)+2) + b"\r\n" + body + b"\r\n",
    b"f APPEND INBOX {%d+}\r\n" % (len(noise)+2) + b"\r\n" + noise + b"\r\n",
    b"g NOOP\r\n",
    b"h IDLE\r\n",
    b"DONE\r\n",
    b"i LOGOUT\r\n",
]
for level in (1, 6, 9):
    z = zlib.compressobj(level, zlib.DEFLATED, -15, 8)
    out = []
    for c in chunks:
        out.append({"plain": base64.b64encode(c).decode(), "deflated": base64.b64encode(z.compress(c) + z.flush(zlib.Z_PARTIAL_FLUSH)).decode()})
    with open("partial-flush-%d.json" % level, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
