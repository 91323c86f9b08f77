#!/usr/bin/env python3
"""Write a valid PNG of exactly SIZE bytes: `make_png.py SIZE OUT`.

RGB 8-bit, 256 px wide, rows of random bytes stored with zlib level 0 (so the file is as large
as its pixels and incompressible, like a photo), then a tEXt chunk that pads the file to the exact
size. Any decoder opens it (it is noise); Pixstore only checks the magic bytes anyway.
"""
import os
import struct
import sys
import zlib

SIG = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, pad: int = 0, noise: bool = True) -> bytes:
    row = (lambda: os.urandom(3 * width)) if noise else (lambda: bytes(3 * width))
    raw = b"".join(b"\x00" + row() for _ in range(height))
    out = SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    if pad:
        # tEXt: keyword "c", NUL, text; 12 bytes of chunk framing + 2.
        out += chunk(b"tEXt", b"c\x00" + b"x" * (pad - 14))
    return out + chunk(b"IDAT", zlib.compress(raw, 0)) + chunk(b"IEND", b"")


def main() -> None:
    size, out = int(sys.argv[1]), sys.argv[2]
    width = 256
    # Level-0 deflate has a data-independent length, so size the file with zero rows.
    height = max(1, (size - 1024) // (3 * width + 1))
    while len(png(width, height + 1, noise=False)) + 14 <= size:
        height += 1
    data = png(width, height)
    pad = size - len(data)
    if pad:
        if pad < 14:
            sys.exit(f"cannot pad a {len(data)}-byte PNG to {size} bytes")
        data = png(width, height, pad)
    assert len(data) == size, (len(data), size)
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
