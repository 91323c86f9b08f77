#!/usr/bin/env python3
"""A TCP proxy that sends each new connection to the next upstream in turn.

    python3 .ci/round-robin-proxy.py COUNTS_FILE HOST:PORT HOST:PORT...

Listens on 127.0.0.1 (a free port), prints {"listen": "127.0.0.1:PORT"} on stdout, and after
each connection rewrites COUNTS_FILE with {"HOST:PORT": connections, ...}. The conformance
suite opens one connection per HTTP/1.1 request (Connection: close), so through this proxy its
requests alternate between the upstreams: .ci/s3.sh runs the suite this way against two server
instances that share one bucket. Bytes are passed through unchanged, both ways.
"""
import asyncio
import itertools
import json
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            writer.close()


async def main():
    counts_file, upstreams = sys.argv[1], sys.argv[2:]
    if not upstreams:
        sys.exit("usage: round-robin-proxy.py COUNTS_FILE HOST:PORT HOST:PORT...")
    counts = {u: 0 for u in upstreams}
    turn = itertools.cycle(upstreams)

    async def handle(client_reader, client_writer):
        upstream = next(turn)
        host, port = upstream.rsplit(":", 1)
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            client_writer.close()
            return
        counts[upstream] += 1
        with open(counts_file, "w") as f:
            json.dump(counts, f)
        await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))
        client_writer.close()
        up_writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"listen": f"127.0.0.1:{port}"}), flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
