#!/usr/bin/env python3
"""Hostile clients for bench/soak.sh, for a bounded time, against 127.0.0.1 only.

    soak_clients.py PORT SECONDS TARGET PROOF [SLOW] [STALLED] [IDLE]

- SLOW connections send a request head one byte every 0.5 s (slowloris) and reconnect when the
  server closes them;
- STALLED connections send a complete request for TARGET and never read the answer (each is
  replaced by a new one after 30 s);
- IDLE connections connect and send nothing.
Every connection is reopened when the server closes it (a refused connect is retried after
0.2 s), so the server is under this pressure for the whole run. Prints one JSON line at the
end: how many connections of each kind were opened and closed by the server.
"""
import json
import selectors
import socket
import sys
import time

port, seconds, target, proof = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
slow_n, stalled_n, idle_n = (int(a) for a in (sys.argv[5:8] + ["100", "20", "50"][len(sys.argv[5:8]):]))
HOST = "127.0.0.1"
head = f"GET {target} HTTP/1.1\r\nHost: soak\r\nx-pixstore-proof: {proof}\r\nX-Pad: {'a' * 200}\r\n\r\n".encode()
# stalled_closed counts the ones this script replaced (it never reads, so it cannot see a close).
stats = {"slow_opened": 0, "slow_closed": 0, "stalled_opened": 0, "stalled_closed": 0, "idle_opened": 0,
         "idle_closed": 0, "connect_failures": 0}
sel = selectors.DefaultSelector()
conns = {}  # socket -> [kind, bytes sent, opened at]


def open_one(kind):
    s = socket.socket()
    s.setblocking(True)
    s.settimeout(2)
    try:
        s.connect((HOST, port))
    except OSError:
        stats["connect_failures"] += 1
        s.close()
        return False
    s.setblocking(False)
    if kind == "stalled":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            s.send(head)
        except OSError:
            pass
    conns[s] = [kind, 0, time.time()]
    if kind != "stalled":
        sel.register(s, selectors.EVENT_READ)
    stats[kind + "_opened"] += 1
    return True


def refill():
    want = {"slow": slow_n, "stalled": stalled_n, "idle": idle_n}
    have = {"slow": 0, "stalled": 0, "idle": 0}
    for kind, *_ in conns.values():
        have[kind] += 1
    for kind in want:
        for _ in range(want[kind] - have[kind]):
            if not open_one(kind):
                return


end = time.time() + seconds
next_trickle = 0.0
while time.time() < end:
    refill()
    for key, _ in sel.select(timeout=0.2):
        s = key.fileobj
        kind = conns[s][0]
        try:
            data = s.recv(65536)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            del conns[s]
            s.close()
            stats[kind + "_closed"] += 1
    for s, state in list(conns.items()):
        if state[0] == "stalled" and time.time() - state[2] > 30:
            del conns[s]
            s.close()
            stats["stalled_closed"] += 1
    if time.time() >= next_trickle:
        next_trickle = time.time() + 0.5
        for s, state in list(conns.items()):
            if state[0] == "slow":
                i = state[1] % len(head)
                try:
                    s.send(head[i:i + 1])
                    state[1] += 1
                except OSError:
                    pass
for s in list(conns):
    s.close()
print(json.dumps(stats))
