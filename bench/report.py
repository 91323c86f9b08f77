#!/usr/bin/env python3
"""Turn bench/run.sh's raw wrk outputs into results.md: `report.py RESULTS_DIR`.

Reads RESULTS_DIR/cells.tsv (one line per measured cell, written by run.sh) and each raw wrk
output it names; writes RESULTS_DIR/results.md and RESULTS_DIR/results.tsv.
"""
import csv
import os
import re
import sys

TARGETS = [("ours", "ours (pixstore-server)"), ("main", "today's main"), ("nginx", "nginx (static)"), ("node", "pixstore 3.2.1")]
SIZE_LABEL = {"4k": "4 KiB", "10k": "10 KiB", "100k": "100 KiB", "1m": "1 MiB"}
GOAL_SIZES = ("10k", "100k")
# Issue 11's targets for the pinned run (one server core); the unpinned run kept the first ones.
PINNED = os.environ.get("BENCH_PIN", "0") == "1"
GOAL_NGINX = 1.0 if PINNED else 0.6
GOAL_NODE = 10.0 if PINNED else 8.0

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


def per_cpu(w):
    """Requests per second of server CPU time (rps / server CPU share)."""
    try:
        cpu = float(w["server_cpu_pct"])
    except (KeyError, TypeError, ValueError):
        return None
    return w["rps"] / (cpu / 100) if w.get("rps") and cpu > 0 else None


OTHER_MAX = int(os.environ.get("BENCH_OTHER_MAX", "25"))


def other(w):
    """Machine CPU not used by the server or wrk: other processes, kernel threads (ksoftirqd), idle targets."""
    try:
        v = int(w["other_cpu_pct"])
    except (KeyError, TypeError, ValueError):
        return "-"
    return f"{v} %" + (" BUSY" if v > OTHER_MAX else "")


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
    rounds = {}
    order = []
    with open(os.path.join(root, "cells.tsv")) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            w = parse_wrk(os.path.join(root, row["raw"]))
            w.update(row)
            key = (row["size"], row["conns"], row["kind"])
            if key not in order:
                order.append(key)
            rounds.setdefault(key + (row["target"],), []).append(w)
    # With BENCH_ROUNDS > 1 every table below shows each target's median round (by requests/s;
    # the lower middle one of an even count), and the section "Rounds" shows them all.
    cells = {k: sorted(ws, key=lambda w: w["rps"] or 0)[(len(ws) - 1) // 2] for k, ws in rounds.items()}
    present = [t for t in TARGETS if any(k[3] == t[0] for k in cells)]

    with open(os.path.join(root, "results.tsv"), "w") as f:
        f.write("target\tsize\tconns\tkind\trps\tp50_ms\tp99_ms\tserver_cpu_pct\twrk_cpu_pct\tksoftirqd_cpu_pct\tother_cpu_pct\tattempts\tavg_bytes_per_response\tpayload_bytes\terrors\n")
        for (size, conns, kind, target), w in cells.items():
            avg = w["bytes"] / w["requests"] if w["requests"] else None
            f.write("\t".join(str(x) for x in (target, size, conns, kind, w["rps"], w["p50"], w["p99"], w["server_cpu_pct"],
                                                w.get("wrk_cpu_pct"), w.get("ksoftirqd_cpu_pct"), w.get("other_cpu_pct"), w.get("attempts"), None if avg is None else round(avg), w["payload_len"], w["errors"])) + "\n")

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
    if {"ours", "main"} <= has:
        head.append("ours / main")
    if {"ours", "nginx"} <= has:
        head.append("p99 ours <= nginx")
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
        if {"ours", "main"} <= has:
            row.append(fmt_ratio(ours, cells.get((size, conns, kind, "main"), {}).get("rps")))
        if {"ours", "nginx"} <= has:
            po = cells.get((size, conns, kind, "ours"), {}).get("p99")
            pn = cells.get((size, conns, kind, "nginx"), {}).get("p99")
            row.append("-" if po is None or pn is None else ("yes" if po <= pn else "NO"))
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    lines.append("")

    if {"ours", "nginx", "node"} <= has:
        lines.append(f"## Targets (at {', '.join(SIZE_LABEL[s] for s in GOAL_SIZES)}): ours >= {GOAL_NGINX} x nginx and >= {GOAL_NODE:g} x 3.2.1\n")
        lines.append("The targets are on requests/s. The last column is context only: the same ratio per second of server CPU "
                     "time (requests/s divided by the server's CPU share), see the per-cell table.\n")
        lines.append(f"| size | conns | kind | ours / nginx | >= {GOAL_NGINX:g} | ours / 3.2.1 | >= {GOAL_NODE:g} | ours / 3.2.1 per server CPU-second |")
        lines.append("|---|---|---|---|---|---|---|---|")
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
            eo = per_cpu(cells[(size, conns, kind, "ours")])
            ed = per_cpu(cells[(size, conns, kind, "node")])
            lines.append(f"| {SIZE_LABEL[size]} | {conns} | {kind} | {o / n:.2f} | {'yes' if a else 'NO'} | {o / d:.2f} | "
                         f"{'yes' if b else 'NO'} | {fmt_ratio(eo, ed)} |")
        lines.append("")
        lines.append(f"nginx target met in {met_n} of {total} cells; 3.2.1 target met in {met_o} of {total} cells.\n")

    if max(len(ws) for ws in rounds.values()) > 1:
        lines.append("## Rounds\n")
        lines.append("Each row measured every target in turn, once per round; the tables above show each target's median round. "
                     "A paired ratio compares two targets within one round (measured minutes apart at most), so the median of "
                     "the paired ratios is the steadier figure on a machine whose speed drifts.\n")
        lines.append("| size | conns | kind | target | req/s per round | median |")
        lines.append("|---|---|---|---|---|---|")
        for size, conns, kind in order:
            for t, _ in present:
                ws = rounds.get((size, conns, kind, t), [])
                if ws:
                    lines.append(f"| {SIZE_LABEL.get(size, size)} | {conns} | {kind} | {t} | "
                                 f"{' / '.join(fmt_rps(w['rps']) for w in ws)} | {fmt_rps(cells[(size, conns, kind, t)]['rps'])} |")
        lines.append("")
        pairs = [(other_t, label) for other_t, label in (("nginx", "ours / nginx"), ("node", "ours / 3.2.1"), ("main", "ours / main")) if {"ours", other_t} <= has]
        if pairs:
            lines.append("| size | conns | kind | ratio | per round | median |")
            lines.append("|---|---|---|---|---|---|")
            for size, conns, kind in order:
                ours_r = rounds.get((size, conns, kind, "ours"), [])
                for other_t, label in pairs:
                    theirs = rounds.get((size, conns, kind, other_t), [])
                    rs = [a["rps"] / b["rps"] for a, b in zip(ours_r, theirs) if a["rps"] and b["rps"]]
                    if rs:
                        med = sorted(rs)[(len(rs) - 1) // 2] if len(rs) % 2 else sum(sorted(rs)[len(rs) // 2 - 1:len(rs) // 2 + 1]) / 2
                        lines.append(f"| {SIZE_LABEL.get(size, size)} | {conns} | {kind} | {label} | "
                                     f"{' / '.join(f'{r:.2f}' for r in rs)} | {med:.2f} |")
            lines.append("")

    busy = [k for k, w in cells.items() if w.get("other_cpu_pct") not in (None, "") and int(w["other_cpu_pct"]) > OTHER_MAX]
    if busy:
        lines.append(f"**{len(busy)} of {len(cells)} cells were measured while other processes used more than {OTHER_MAX} % CPU "
                     "(BUSY below): their numbers are low and noisy.**\n")
    else:
        lines.append(f"No cell was measured while other processes used more than {OTHER_MAX} % CPU.\n")

    lines.append("## Per cell: CPU and sanity\n")
    lines.append("server CPU = CPU time of the server's processes during the measured run / wall time (200 % = both cores; "
                 "nginx: its two workers; Node: all threads of the process, libuv pool and GC included); "
                 "wrk CPU likewise for wrk; ksoftirqd = the kernel's softirq threads (loopback packets it deferred, part of the "
                 "network cost); other CPU = busy time of the whole machine minus those three (other processes, other kernel "
                 "threads): if it is large, something else competed for the CPUs; run.sh measures a cell again "
                 f"(attempts) while it exceeds {OTHER_MAX} %, within a time budget, and BUSY marks a cell where it still did. avg bytes/resp = wrk's bytes read / requests (headers included; "
                 "wrk rounds the byte total, so about +-1 %); it must be at least the payload length.\n")
    lines.append("| target | size | conns | kind | req/s | p50 | p99 | server CPU | req per server CPU-s | wrk CPU | ksoftirqd | other CPU | attempts | payload | avg bytes/resp | errors |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
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
                         f"{fmt_ms(w['p99'])} | {w['server_cpu_pct']} % | {fmt_rps(per_cpu(w))} | {w.get('wrk_cpu_pct', '-')} % | {w.get('ksoftirqd_cpu_pct', '-')} % | {other(w)} | {w.get('attempts', '-')} | {w['payload_len']} | "
                         f"{'-' if avg is None else f'{avg:,.0f}'}{flag} | {w['errors'] or 'none'} |")
    lines.append("")
    with open(os.path.join(root, "results.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
