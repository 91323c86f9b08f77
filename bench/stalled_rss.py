#!/usr/bin/env python3
"""Resident memory of a pixstore-server binary with 50 clients that request an 8 MiB image and
never read (127.0.0.1 only):

    python3 bench/stalled_rss.py BIN DATA_DIR [extra serve flags...]

DATA_DIR must be new; DATA_DIR/../big.png is created (8 MiB, PNG-signed) if missing. Prints the
RSS of the warm server (the image served once) and with the 50 stalled readers, once it settled.
"""
import json, socket, subprocess, sys, time, urllib.parse, urllib.request, os
bin_, data = sys.argv[1], sys.argv[2]
extra = sys.argv[3:]
# Beside DATA_DIR, which does not exist yet (so not DATA_DIR/.., which the OS cannot resolve).
img = os.path.join(os.path.dirname(os.path.abspath(data)), "big.png")
if not os.path.exists(img):
    with open(img, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + os.urandom(8 << 20))
rec = json.loads(subprocess.check_output([bin_, "--data-dir", data, "--max-image-bytes", "16777216", "put", img]))
p = subprocess.Popen([bin_, "--data-dir", data, "--max-image-bytes", "16777216", "serve", "--listen-host", "127.0.0.1", "--port", "0", "--print-addresses"] + extra, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
addr = json.loads(p.stdout.readline())["endpoint"]
host, port = addr.split(":")
target = "/pixstore-image/" + urllib.parse.quote(rec["id"], safe="")
def rss():
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1])
urllib.request.urlopen(urllib.request.Request(f"http://{addr}{target}", headers={"x-pixstore-proof": rec["statelessProof"]})).read()
base = rss()
socks = []
for _ in range(50):
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.send(f"GET {target} HTTP/1.1\r\nHost: x\r\nx-pixstore-proof: {rec['statelessProof']}\r\n\r\n".encode())
    socks.append(s)
last, steady = 0, 0
for _ in range(300):
    now = rss(); steady = steady + 1 if abs(now - last) < 512 else 0; last = now
    if steady >= 10: break
    time.sleep(0.1)
print(f"{bin_}: RSS {base} KiB warm, {rss()} KiB with 50 stalled readers of an 8 MiB image")
p.kill()
