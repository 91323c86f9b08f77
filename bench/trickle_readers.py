#!/usr/bin/env python3
"""How long a pixstore-server keeps a connection whose reader takes an 8 MiB response a little at
a time (127.0.0.1 only):

    python3 bench/trickle_readers.py BIN NEW_DATA_DIR IDLE_TIMEOUT_MS RATE [RATE...]

For each RATE (bytes per second) a reader with a receive buffer of RATE bytes (at least 4 KiB) asks
for the image and then reads up to RATE bytes once a second. The server runs with --idle-timeout-ms
IDLE_TIMEOUT_MS and its connection layer's debug log; the script waits (up to 3 idle timeouts + 30
s) for the server's "closing the connection" line and prints after how long, and why, the server
closed the connection. The reader's own view cannot tell: it still reads what its kernel buffered
after the server closed. Only a full response counts: a 200 whose Content-Length is the Updated
payload of the image (70 + the image's size, WIRE-3 and ENV-1) and whose body starts with the
Updated state byte; any other answer (an expired proof, an error) stops the script with a non-zero
exit.
"""
import json, os, socket, subprocess, sys, time, urllib.parse

bin_, data, idle_ms = sys.argv[1], sys.argv[2], int(sys.argv[3])
rates = [int(r) for r in sys.argv[4:]] or sys.exit(__doc__)
img = os.path.join(os.path.dirname(os.path.abspath(data)), "trickle.png")
if not os.path.exists(img):
    with open(img, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + os.urandom(8 << 20))
# A proof valid for an hour: the run outlasts the default window.
common = ["--data-dir", data, "--max-image-bytes", "16777216", "--window-ms", "3600000"]
rec = json.loads(subprocess.check_output([bin_, *common, "put", img], stderr=subprocess.DEVNULL))
log_path = os.path.join(os.path.dirname(os.path.abspath(data)), "trickle-server.log")
log = open(log_path, "w")
env = dict(os.environ, PIXSTORE_LOG="pixstore_server::net=debug", NO_COLOR="1")
p = subprocess.Popen(
    [bin_, *common, "serve", "--listen-host", "127.0.0.1", "--port", "0", "--ops=false",
     "--idle-timeout-ms", str(idle_ms), "--print-addresses"],
    stdout=subprocess.PIPE, stderr=log, env=env)
try:
    host, port = json.loads(p.stdout.readline())["endpoint"].split(":")
    # WIRE-3: state byte, u64 token, 32-byte key, 12-byte iv, 16-byte tag (69 bytes), then the
    # ciphertext of [format byte][image bytes] (ENV-1).
    want_len = 69 + 1 + os.path.getsize(img)

    def check_head(buf):
        """The response head once it is in `buf` (None before); exits unless it is a full Updated."""
        end = buf.find(b"\r\n\r\n")
        if end < 0 or len(buf) <= end + 4:
            return None
        lines = buf[:end].decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        if lines[0].split(" ")[1:2] != ["200"] or fields.get("content-length") != str(want_len) \
                or buf[end + 4] != 0x01:
            sys.exit(f"not a full Updated response of {want_len} bytes: {lines} body {buf[end + 4:end + 5]!r}")
        return end + 4

    target = "/pixstore-image/" + urllib.parse.quote(rec["id"], safe="")
    for rate in rates:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, max(4096, rate))
        s.connect((host, int(port)))
        peer = f"127.0.0.1:{s.getsockname()[1]}"
        s.settimeout(0.05)
        s.send(f"GET {target} HTTP/1.1\r\nHost: x\r\nx-pixstore-proof: {rec['statelessProof']}\r\n\r\n".encode())
        t0, got, closed, head, seen = time.time(), 0, None, None, b""
        while closed is None and time.time() - t0 < 3 * idle_ms / 1000 + 30:
            # Read what this second allows (RATE bytes a second on average), as far as it came.
            budget = int(rate * (time.time() - t0 + 1)) - got
            while budget > 0:
                try:
                    chunk = s.recv(min(budget, 1 << 16))
                except (socket.timeout, ConnectionResetError):
                    break
                if not chunk:
                    break
                got += len(chunk)
                budget -= len(chunk)
                if head is None:
                    seen += chunk
                    head = check_head(seen)
            for line in open(log_path):
                if "closing the connection" in line and f"peer={peer}" in line:
                    closed = line.rsplit("why=", 1)[-1].strip().strip('"')
            time.sleep(max(0.0, 1 - (time.time() - t0) % 1))
        if head is None:
            sys.exit(f"no complete response head in {got} bytes: {seen[:200]!r}")
        took = time.time() - t0
        verdict = f"closed by the server ({closed}) after {took:.0f} s" if closed else f"still open after {took:.0f} s"
        print(f"idle timeout {idle_ms} ms, reader at {rate} B/s: {verdict}; the reader had read {got} bytes")
        s.close()
finally:
    p.kill()
