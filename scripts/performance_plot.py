#!/usr/bin/env python3
"""Plots flsentry-benchmark rows (scripts/performance_grid.sh).

Reads the JSON arrays `flsentry-benchmark --json` printed, one after the
other, from ROWS; writes them as one JSON document (--json, with the commit
and machine) and an SVG (--svg): seconds per round (log) against the round's
size n x d (log), one panel per thread count, one colour per method (FedAvg,
flsentry from call to decisions, flsentry back to back, coordinate-wise
median, trimmed mean, Multi-Krum), one marker per n. Standard library only.
"""
import argparse
import json
import math
import sys

METHODS = [  # key, label, colour
    ("fedavg_s", "FedAvg", "#444444"),
    ("plugin_s", "flsentry: call to decisions", "#d62728"),
    ("plugin_back_to_back_s", "flsentry: back to back", "#ff9896"),
    ("median_s", "coordinate-wise median", "#1f77b4"),
    ("trimmed_mean_s", "trimmed mean (beta 0.1)", "#2ca02c"),
    ("multikrum_s", "Multi-Krum (f = n/5)", "#9467bd"),
]
MARKERS = ["circle", "square", "triangle", "diamond", "cross"]


def read_rows(path):
    text = open(path, encoding="utf-8").read()
    decoder, rows, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return rows
        value, at = decoder.raw_decode(text, at)
        rows.extend(value if isinstance(value, list) else [value])


def marker(kind, x, y, colour):
    r = 4
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{colour}"/>'
    if kind == "square":
        return (f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" '
                f'height="{2 * r}" fill="{colour}"/>')
    if kind == "triangle":
        pts = f"{x:.1f},{y - r:.1f} {x - r:.1f},{y + r:.1f} {x + r:.1f},{y + r:.1f}"
        return f'<polygon points="{pts}" fill="{colour}"/>'
    if kind == "diamond":
        pts = f"{x:.1f},{y - r:.1f} {x + r:.1f},{y:.1f} {x:.1f},{y + r:.1f} {x - r:.1f},{y:.1f}"
        return f'<polygon points="{pts}" fill="{colour}"/>'
    return (f'<path d="M{x - r:.1f},{y - r:.1f}L{x + r:.1f},{y + r:.1f}'
            f'M{x - r:.1f},{y + r:.1f}L{x + r:.1f},{y - r:.1f}" '
            f'stroke="{colour}" stroke-width="2"/>')


def panel(rows, threads, left, top, width, height, ns, bounds):
    (x0, x1), (y0, y1) = bounds
    sx = lambda v: left + (math.log10(v) - x0) / (x1 - x0) * width
    sy = lambda v: top + height - (math.log10(v) - y0) / (y1 - y0) * height
    out = [f'<rect x="{left}" y="{top}" width="{width}" height="{height}" '
           'fill="none" stroke="#999"/>',
           f'<text x="{left + width / 2}" y="{top - 8}" text-anchor="middle" '
           f'font-size="13">threads = {threads}</text>']
    for e in range(math.floor(x0), math.ceil(x1) + 1):
        if x0 <= e <= x1:
            out.append(f'<text x="{sx(10 ** e):.1f}" y="{top + height + 16}" '
                       f'text-anchor="middle" font-size="11">1e{e}</text>')
    for e in range(math.floor(y0), math.ceil(y1) + 1):
        if y0 <= e <= y1:
            y = sy(10 ** e)
            out.append(f'<line x1="{left}" x2="{left + width}" y1="{y:.1f}" '
                       f'y2="{y:.1f}" stroke="#eee"/>')
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                       f'font-size="11">1e{e} s</text>')
    for key, _, colour in METHODS:
        pts = sorted((r["n"] * r["d"], r[key], r["n"]) for r in rows
                     if r["threads"] == threads and isinstance(r.get(key), (int, float))
                     and r[key] > 0)
        for size, seconds, n in pts:
            out.append(marker(MARKERS[ns.index(n) % len(MARKERS)],
                              sx(size), sy(seconds), colour))
    out.append(f'<text x="{left + width / 2}" y="{top + height + 34}" '
               'text-anchor="middle" font-size="12">n x d (parameters in the '
               'round)</text>')
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("rows")
    p.add_argument("--commit", default="")
    p.add_argument("--machine", default="")
    p.add_argument("--json", required=True)
    p.add_argument("--svg", required=True)
    a = p.parse_args()
    rows = read_rows(a.rows)
    if not rows:
        sys.exit("performance_plot: no rows in " + a.rows)
    with open(a.json, "w", encoding="utf-8") as f:
        json.dump({"commit": a.commit, "machine": a.machine, "rows": rows}, f,
                  indent=1)
        f.write("\n")
    sizes = [r["n"] * r["d"] for r in rows]
    times = [r[k] for r in rows for k, _, _ in METHODS
             if isinstance(r.get(k), (int, float)) and r[k] > 0]
    bounds = ((math.floor(math.log10(min(sizes))), math.ceil(math.log10(max(sizes)))),
              (math.floor(math.log10(min(times))), math.ceil(math.log10(max(times)))))
    ns = sorted({r["n"] for r in rows})
    threads = sorted({r["threads"] for r in rows})
    w, h, pw, ph = max(780, 60 + 420 * len(threads)), 560, 340, 340
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'viewBox="0 0 {w} {h}" font-family="sans-serif">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="20" y="24" font-size="15">Seconds per round against the '
           f'round\'s size (flsentry-benchmark, {a.commit})</text>',
           f'<text x="20" y="42" font-size="11">{a.machine}</text>']
    for i, t in enumerate(threads):
        svg += panel(rows, t, 80 + 420 * i, 80, pw, ph, ns, bounds)
    y = 80 + ph + 60
    for i, (_, label, colour) in enumerate(METHODS):
        x = 20 + (i % 3) * 250
        yy = y + (i // 3) * 18
        svg.append(f'<rect x="{x}" y="{yy - 9}" width="10" height="10" fill="{colour}"/>')
        svg.append(f'<text x="{x + 16}" y="{yy}" font-size="12">{label}</text>')
    y += 46
    for i, n in enumerate(ns):
        x = 20 + i * 110
        svg.append(marker(MARKERS[i % len(MARKERS)], x + 4, y - 4, "#333"))
        svg.append(f'<text x="{x + 14}" y="{y}" font-size="12">n = {n}</text>')
    svg.append("</svg>")
    with open(a.svg, "w", encoding="utf-8") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
