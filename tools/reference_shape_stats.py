#!/usr/bin/env python3
"""Summary statistics of the real-scan reference outlines that parameterise the phantom's
foramen shape variants (docs/phantom.md, "Variants from real-scan failures").

    python3 tools/reference_shape_stats.py [fixtures/reference/foramina]

Reads only the first readings (`*.json`, not `repeat/`); uses vertices, height and width,
never images. Width profile: the outline's y extent (AP) at 15, 30, 50, 70 and 85 % of its
z extent (bottom to top), divided by its width. Classes from the profile: mean of the two
lower widths over the mean of the two upper ones, `low/up`:
  teardrop   low/up < 0.75 (wide arch on top, narrow lower tail)
  inverted_u low/up > 1.33, or the 15 % width >= 0.75 and wider than the 85 % one by > 0.05
  oval       the rest (widest near mid-height, narrowing to both ends)
"""
import collections
import glob
import json
import os
import statistics as st
import sys


def width_at(poly, z):
    xs = []
    for i in range(len(poly)):
        (y1, z1), (y2, z2) = poly[i], poly[(i + 1) % len(poly)]
        if (z1 <= z < z2) or (z2 <= z < z1):
            xs.append(y1 + (z - z1) * (y2 - y1) / (z2 - z1))
    xs.sort()
    return sum(xs[i + 1] - xs[i] for i in range(0, len(xs) - 1, 2))


def quantile(v, p):
    v = sorted(v)
    return v[int(p * (len(v) - 1))]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "fixtures/reference/foramina"
    rows = []
    for f in sorted(glob.glob(os.path.join(root, "*.json"))):
        d = json.load(open(f))
        for fo in d["foramina"]:
            if fo.get("vertices_mm") is None:
                continue
            poly = fo["vertices_mm"]
            zs = [p[1] for p in poly]
            z0, z1 = min(zs), max(zs)
            w = fo["width_mm"]
            prof = [width_at(poly, z0 + t * (z1 - z0)) / w for t in (0.15, 0.3, 0.5, 0.7, 0.85)]
            r = (prof[0] + prof[1]) / (prof[3] + prof[4])
            if r < 0.75:
                cls = "teardrop"
            elif r > 1.33 or (prof[0] >= 0.75 and prof[0] > prof[4] + 0.05):
                cls = "inverted_u"
            else:
                cls = "oval"
            rows.append((cls, fo["area_mm2"], fo["height_mm"], w, prof))
    print(f"{len(rows)} outlined foramina")
    for name, k in [("area", 1), ("height", 2), ("width", 3)]:
        v = [r[k] for r in rows]
        print(f"{name}: mean {st.mean(v):.1f} sd {st.stdev(v):.1f} "
              + " ".join(f"p{int(p*100)} {quantile(v, p)}" for p in (0.05, 0.1, 0.5, 0.9, 0.95)))
    counts = collections.Counter(r[0] for r in rows)
    for cls in ("oval", "teardrop", "inverted_u"):
        r = [x for x in rows if x[0] == cls]
        h = [x[2] for x in r]
        w = [x[3] for x in r]
        prof = [round(st.mean(x[4][i] for x in r), 2) for i in range(5)]
        print(f"{cls}: {counts[cls]}/{len(rows)} "
              f"height mean {st.mean(h):.1f} sd {st.stdev(h):.1f} p5 {quantile(h, .05)} p95 {quantile(h, .95)}; "
              f"width mean {st.mean(w):.1f} sd {st.stdev(w):.1f} p5 {quantile(w, .05)} p95 {quantile(w, .95)}; "
              f"profile {prof}")


if __name__ == "__main__":
    main()
