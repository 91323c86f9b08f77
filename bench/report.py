#!/usr/bin/env python3
"""Turn bench/run.sh's raw wrk outputs into results.md: `report.py RESULTS_DIR`.

Reads RESULTS_DIR/cells.tsv (one line per measured cell, written by run.sh) and each raw wrk
output it names; writes RESULTS_DIR/results.md and RESULTS_DIR/results.tsv.
"""
import csv
import os
import re
import sys

TARGETS = [("ours", "ours (pixstore-server)"), ("nginx", "nginx (static)"), ("node", "pixstore 3.2.1")]
SIZE_LABEL = {"10k": "10 KiB", "100k": "100 KiB", "1m": "1 MiB"}
GOAL_SIZES = ("10k", "100k")
GOAL_NGINX = 0.6
GOAL_NODE = 8.0

TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
BYTE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    return float(m.group(1)) * TIME_UNITS[m.group(2)] if m else None


def parse_wrk(path):
    """requests/s, p50/p99 in ms, request count, bytes read, errors (socket + non-2xx)."""
    text = open(path).read()
    out = {"rps": None, "p50": None, "p99": None, "requests": None, "bytes": None, "errors": ""}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        if m:
            out[key] = ms(m.group(1))
    m = re.search(r"(\d+) requests in [\d.]+\w+, ([\d.]+)(B|KB|MB|GB|TB) read", text)
    if m:
        out["requests"] = int(m.group(1))
        out["bytes"] = float(m.group(2)) * BYTE_UNITS[m.group(3)]
    errors = []
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += [f"{n} {k}" for k, n in zip(("connect", "read", "write", "timeout"), map(int, m.groups())) if n]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors.append(f"{m.group(1)} non-2xx")
    out["errors"] = ", ".join(errors)
    return out


def fmt_rps(v):
    return "-" if v is None else f"{v:,.0f}"


def fmt_ms(v):
    if v is None:
        return "-"
    return f"{v:.2f} ms" if v < 100 else f"{v:.0f} ms"


def fmt_ratio(a, b):
    return "-" if a is None or not b else f"{a / b:.2f}"


def main():
    root = sys.argv[1]
    cells = {}
    order = []
    with open(os.path.join(root, "cells.tsv")) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            w = parse_wrk(os.path.join(root, row["raw"]))
            w.update(row)
            key = (row["size"], row["conns"], row["kind"])
            if key not in order:
                order.append(key)
            cells[key + (row["target"],)] = w
    present = [t for t in TARGETS if any(k[3] == t[0] for k in cells)]

    with open(os.path.join(root, "results.tsv"), "w") as f:
        f.write("target\tsize\tconns\tkind\trps\tp50_ms\tp99_ms\tserver_cpu_pct\tmachine_busy_pct\tavg_bytes_per_response\tpayload_bytes\terrors\n")
        for (size, conns, kind, target), w in cells.items():
            avg = w["bytes"] / w["requests"] if w["requests"] else None
            f.write("\t".join(str(x) for x in (target, size, conns, kind, w["rps"], w["p50"], w["p99"], w["server_cpu_pct"],
                                                w["machine_busy_pct"], None if avg is None else round(avg), w["payload_len"], w["errors"])) + "\n")

    lines = []
    meta_path = os.path.join(root, "environment.txt")
    lines.append("# Load benchmark results\n")
    lines.append("Written by `bench/run.sh` (raw wrk outputs in `raw/`, environment in `environment.txt`).\n")
    if os.path.exists(meta_path):
        lines.append("```\n" + open(meta_path).read().rstrip() + "\n```\n")

    head = ["size", "conns", "kind"]
    for _, label in present:
        head += [f"{label} req/s", f"{label} p99"]
    has = {t for t, _ in present}
    if {"ours", "nginx"} <= has:
        head.append("ours / nginx")
    if {"ours", "node"} <= has:
        head.append("ours / 3.2.1")
    lines.append("## Requests per second and p99 latency\n")
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for size, conns, kind in order:
        row = [SIZE_LABEL.get(size, size), conns, kind]
        for t, _ in present:
            w = cells.get((size, conns, kind, t), {})
            row += [fmt_rps(w.get("rps")), fmt_ms(w.get("p99"))]
        ours = cells.get((size, conns, kind, "ours"), {}).get("rps")
        if {"ours", "nginx"} <= has:
            row.append(fmt_ratio(ours, cells.get((size, conns, kind, "nginx"), {}).get("rps")))
        if {"ours", "node"} <= has:
            row.append(fmt_ratio(ours, cells.get((size, conns, kind, "node"), {}).get("rps")))
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    lines.append("")

    if {"ours", "nginx", "node"} <= has:
        lines.append(f"## Targets (at {', '.join(SIZE_LABEL[s] for s in GOAL_SIZES)}): ours >= {GOAL_NGINX} x nginx and >= {GOAL_NODE:g} x 3.2.1\n")
        lines.append("| size | conns | kind | ours / nginx | >= 0.6 | ours / 3.2.1 | >= 8 |")
        lines.append("|---|---|---|---|---|---|---|")
        met_n = met_o = total = 0
        for size, conns, kind in order:
            if size not in GOAL_SIZES:
                continue
            o = cells.get((size, conns, kind, "ours"), {}).get("rps")
            n = cells.get((size, conns, kind, "nginx"), {}).get("rps")
            d = cells.get((size, conns, kind, "node"), {}).get("rps")
            if not (o and n and d):
                continue
            total += 1
            a, b = o / n >= GOAL_NGINX, o / d >= GOAL_NODE
            met_n += a
            met_o += b
            lines.append(f"| {SIZE_LABEL[size]} | {conns} | {kind} | {o / n:.2f} | {'yes' if a else 'NO'} | {o / d:.2f} | {'yes' if b else 'NO'} |")
        lines.append("")
        lines.append(f"nginx target met in {met_n} of {total} cells; 3.2.1 target met in {met_o} of {total} cells.\n")

    lines.append("## Per cell: CPU and sanity\n")
    lines.append("server CPU = CPU time of the server's processes during the measured run / wall time (200 % = both cores); "
                 "machine busy = all CPUs, wrk included. avg bytes/resp = wrk's bytes read / requests (headers included; "
                 "wrk rounds the byte total, so about +-1 %); it must be at least the payload length.\n")
    lines.append("| target | size | conns | kind | req/s | p50 | p99 | server CPU | machine busy | payload | avg bytes/resp | errors |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size, conns, kind in order:
        for t, label in present:
            w = cells.get((size, conns, kind, t))
            if not w:
                continue
            avg = w["bytes"] / w["requests"] if w["requests"] else None
            flag = ""
            if avg is not None and avg < 0.99 * int(w["payload_len"]):
                flag = " SHORT"
            lines.append(f"| {t} | {SIZE_LABEL.get(size, size)} | {conns} | {kind} | {fmt_rps(w['rps'])} | {fmt_ms(w['p50'])} | "
                         f"{fmt_ms(w['p99'])} | {w['server_cpu_pct']} % | {w['machine_busy_pct']} % | {w['payload_len']} | "
                         f"{'-' if avg is None else f'{avg:,.0f}'}{flag} | {w['errors'] or 'none'} |")
    lines.append("")
    with open(os.path.join(root, "results.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
