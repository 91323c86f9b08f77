#!/usr/bin/env python3
"""Fetch one URL and check the Pixstore wire payload it returns; exit 1 (loudly) if it is wrong.

  check_payload.py URL --kind success|updated|invalid-proof --image-size N
                   [--proof P] [--token T] [--record-token T] [--save FILE] [--same-as FILE]

success: 0x00 + ciphertext of (format byte + image)           -> N + 2 bytes
updated: 0x01 + token u64 LE + key 32 + iv 12 + tag 16 + same -> N + 70 bytes, token == --record-token
invalid-proof: the single byte 0x05 (InvalidProof)
"""
import argparse
import sys
import urllib.request


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--kind", required=True, choices=["success", "updated", "invalid-proof"])
    ap.add_argument("--image-size", type=int, required=True)
    ap.add_argument("--proof")
    ap.add_argument("--token")
    ap.add_argument("--record-token", type=int)
    ap.add_argument("--save")
    ap.add_argument("--same-as")
    ap.add_argument("--label", default="")
    a = ap.parse_args()

    headers = {}
    if a.proof is not None:
        headers["x-pixstore-proof"] = a.proof
    if a.token is not None:
        headers["x-pixstore-token"] = a.token
    with urllib.request.urlopen(urllib.request.Request(a.url, headers=headers), timeout=30) as resp:
        status = resp.status
        body = resp.read()

    expected_len, expected_first = {
        "success": (a.image_size + 2, 0x00),
        "updated": (a.image_size + 70, 0x01),
        "invalid-proof": (1, 0x05),
    }[a.kind]
    problems = []
    if status != 200:
        problems.append(f"HTTP {status}")
    if len(body) != expected_len:
        problems.append(f"length {len(body)} != {expected_len}")
    if not body or body[0] != expected_first:
        problems.append(f"first byte {body[:1].hex() or 'none'} != {expected_first:02x}")
    if a.kind == "updated" and a.record_token is not None and len(body) >= 9:
        got = int.from_bytes(body[1:9], "little")
        if got != a.record_token:
            problems.append(f"Updated token {got} != record token {a.record_token}")
    if a.same_as:
        with open(a.same_as, "rb") as f:
            if f.read() != body:
                problems.append(f"bytes differ from {a.same_as}")
    label = a.label or a.url
    if problems:
        print(f"FAIL {label} ({a.kind}): " + "; ".join(problems), file=sys.stderr)
        return 1
    if a.save:
        with open(a.save, "wb") as f:
            f.write(body)
    print(f"ok   {label}: {a.kind}, {len(body)} bytes, first byte {body[0]:02x}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
