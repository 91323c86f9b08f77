#!/usr/bin/env python3
"""`profile_client.py PORT TARGET PROOF TOKEN N [wait]`: N Success requests, one after another on
one keep-alive connection to 127.0.0.1:PORT, each body read and its first byte checked (0x00).
With `wait`, first retries the connection for up to 60 s (a server starting under valgrind)."""
import http.client
import sys
import time

port, target, proof, token, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
deadline = time.time() + (60 if len(sys.argv) > 6 else 5)
while True:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.connect()
        break
    except OSError:
        if time.time() > deadline:
            raise
        time.sleep(0.2)
for _ in range(n):
    c.request("GET", target, headers={"x-pixstore-proof": proof, "x-pixstore-token": token})
    r = c.getresponse()
    body = r.read()
    if r.status != 200 or body[:1] != b"\x00":
        sys.exit(f"unexpected answer: {r.status} {body[:8]!r}")
