#!/usr/bin/env python3
"""Score `foramen measure` foramina against the real-scan reading (issue 18, tools/eval-real.sh).

Usage (standard library only):
    python3 tools/eval_real_foramina.py WORK_DIR [--ref=DIR] [--json]
    python3 tools/eval_real_foramina.py --self-test

DIR (default fixtures/reference/foramina next to this tool) holds the readings of
docs/reference-protocol.md: DIR/<SET>-<NN>.json (first reading: the reference) and
DIR/repeat/<SET>-<NN>.json (second reading: repeatability only). WORK_DIR is laid out as for
tools/eval_real_levels.py: dicom/<SET>/<NN>/gt.json, results/<SET>/<acq>/<NN>/report.json,
results/SCT/report.json (+ status.txt). A reference volume is scored on each of its five
acquisitions; an SCT reading (set SCT) on the SCT run.

Area of a reference foramen: the shoelace area of its outline, the minimum over the main
plane and `other_planes` (as `foramen_read.py area` writes it). Unread foramina
(`vertices_mm` null) are left out and counted.

Matching by POSITION (labels may be shifted, issue 17). The reference disc of level L is taken
from gt.json as in eval_real_levels.py (midpoint of the adjacent body centroids; L5-S1 =
L5 + 0.55 (L5 - L4)), with the local cranio-caudal axis through its neighbouring reference
discs. A reported foramen (series[0].levels[]) sits at the reported disc of its level name
(series[0].discs[].center_mm). The reference foramen is matched to the reported foramen of the
same side whose disc lies within 6 mm of the reference disc along the axis (and within 25 mm
across it); the nearest along the axis if several. SCT has no body labels: there the reported
disc nearest the outline centroid along the reported chain's axis is taken, if it is within
half a disc spacing of it ("outline" rule). "By name" (same level name and side) is reported
too, for comparison.

Figures, per set and acquisition, for L1-L2..L4-L5 and for L5-S1 separately:
  match   a reported foramen entry at the position (with or without an area);
  found   a matched reported foramen with a min_area_mm2;
  within  found and |measured/reference - 1| <= 20 % (30 % for L5-S1);
  ratio   median measured/reference over the found ones;
  L5-S1 criterion: a reference L5-S1 foramen is acceptable when its matched report is within
          30 % or carries a confidence below 0.5 (a matched entry without an area has
          confidence 0, i.e. low); the criterion is met when >= 60 % are acceptable. Also
          shown: how many of the acceptable ones were reported with an area.
Calibration: found foramina of all levels by confidence bin [0, .25), [.25, .5), [.5, .7),
[.7, .9), [.9, 1]: count and fraction within 20 % (every level, L5-S1 included, at 20 %);
"conf >= .7: within 20 %" is the issue's target (>= 90 %).
Side: a report names a foramen left when its plane lies at larger x (LPS: patient left) than
the disc centre it was segmented for (src/spine/foramen/mod.rs); the reported plane's x is
-min_area_slice_position_mm (the position is along the viewer normal -x, roi.rs). Checked:
the reference plane's side of the report's midline_x_mm, and the reported plane's side of the
gt canal_x_mm.
Repeatability: foramina read twice (first and repeat reading, both with an outline): mean
|a1 - a2|, relative difference |a1 - a2| / mean(a1, a2) median and 90th percentile (linear
interpolation), fraction with relative difference <= 20 %, and |plane_x1 - plane_x2|; also
split by whether the two readings name the same reader.
"""
import json
import math
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in tools/ from the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval_real_levels import (ACQS, ACROSS_TOL_MM, AXIAL_TOL_MM, ORDER, SETS, add, dot,  # noqa: E402
                              load_json, norm, references, scale, sub, synthetic_gt, unit)

UPPER = ["L1-L2", "L2-L3", "L3-L4", "L4-L5"]
GROUPS = ["L1-L2..L4-L5", "L5-S1", "other"]
TOL = {"L1-L2..L4-L5": 0.20, "L5-S1": 0.30, "other": 0.20}
CAL_TOL = 0.20
CAL_BINS = [(0.0, 0.25), (0.25, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.0000001)]
CONFIDENT = 0.7
L5S1_LOW_CONF = 0.5
L5S1_TARGET = 0.60
TARGETS = {"found": 0.95, "within": 0.80, "confident_within": 0.90}
DEFAULT_REF = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "fixtures", "reference", "foramina")


def group_of(level):
    if level in UPPER:
        return "L1-L2..L4-L5"
    return "L5-S1" if level == "L5-S1" else "other"


def shoelace(v):
    n = len(v)
    s = sum(v[i][0] * v[(i + 1) % n][1] - v[(i + 1) % n][0] * v[i][1] for i in range(n))
    return 0.5 * abs(s)


def valid_poly(v):
    return (isinstance(v, list) and len(v) >= 3
            and all(isinstance(p, list) and len(p) == 2
                    and all(isinstance(c, (int, float)) for c in p) for p in v))


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    if not n:
        return None
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def percentile(xs, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(xs)
    if not xs:
        return None
    pos = q / 100.0 * (len(xs) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (pos - lo) * (xs[hi] - xs[lo])


# ---------------------------------------------------------------- reference
def read_foramina(doc, where, problems):
    """[{level, side, area, plane_x, centroid, quality}] of the read foramina; unread counted."""
    out, unread = [], 0
    for i, f in enumerate(doc.get("foramina") or []):
        w = f"{where} foramina[{i}]"
        level, side = f.get("level"), f.get("side")
        if side not in ("left", "right") or not isinstance(level, str):
            problems.append(f"{w}: bad level/side, skipped")
            continue
        v = f.get("vertices_mm")
        if v is None:
            unread += 1
            continue
        if not valid_poly(v) or not isinstance(f.get("plane_x_mm"), (int, float)):
            problems.append(f"{w}: bad vertices or plane_x_mm, skipped")
            continue
        planes = [(float(f["plane_x_mm"]), v)]
        for o in f.get("other_planes") or []:
            if valid_poly(o.get("vertices_mm")) and isinstance(o.get("plane_x_mm"), (int, float)):
                planes.append((float(o["plane_x_mm"]), o["vertices_mm"]))
        x, poly = min(planes, key=lambda p: shoelace(p[1]))
        area = shoelace(poly)
        stored = f.get("area_mm2")
        if isinstance(stored, (int, float)) and abs(stored - area) > 0.15 + 0.002 * area:
            problems.append(f"{w}: stored area {stored} differs from the outline's {area:.1f} "
                            "(the outline is used)")
        c = [sum(p[0] for p in poly) / len(poly), sum(p[1] for p in poly) / len(poly)]
        out.append({"level": level, "side": side, "area": area, "plane_x": x,
                    "centroid": [x, c[0], c[1]], "quality": f.get("quality")})
    return out, unread


def load_references(ref_dir):
    """{(set, volume): {1: [...], 2: [...]}}, per-file info and problems."""
    refs, files, problems = {}, [], []
    for reading, d in ((1, ref_dir), (2, os.path.join(ref_dir, "repeat"))):
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith(".json"):
                continue
            path = os.path.join(d, name)
            doc = load_json(path)
            if not isinstance(doc, dict) or "set" not in doc or "volume" not in doc:
                problems.append(f"{path}: not a reading file, skipped")
                continue
            if doc.get("reading") not in (None, reading):
                problems.append(f"{path}: says reading {doc.get('reading')}, "
                                f"taken as {reading} from its folder")
            fs, unread = read_foramina(doc, path, problems)
            for f in fs:
                f["reader"] = doc.get("reader")
            key = (str(doc["set"]), str(doc["volume"]))
            refs.setdefault(key, {})[reading] = fs
            files.append({"file": os.path.relpath(path, ref_dir), "reading": reading,
                          "reader": doc.get("reader"), "read": len(fs), "unread": unread})
    return refs, files, problems


# ---------------------------------------------------------------- report
def reported(report):
    """(series, {name: disc centre}, [reported foramina]) of a report (None when no series)."""
    if not report:
        return None, {}, []
    ss = report.get("series") or []
    series = next((s for s in ss if s.get("status") == "measured"), ss[0] if ss else None)
    if series is None:
        return None, {}, []
    discs = {}
    for d in series.get("discs") or []:
        c = d.get("center_mm")
        if d.get("level") and isinstance(c, list) and len(c) == 3 and d["level"] not in discs:
            discs[d["level"]] = [float(x) for x in c]
    fs = []
    for l in series.get("levels") or []:
        pos = l.get("min_area_slice_position_mm")
        conf = l.get("confidence")
        fs.append({"level": l.get("level"), "side": l.get("side"),
                   "area": l.get("min_area_mm2"),
                   "confidence": float(conf) if isinstance(conf, (int, float)) else None,
                   "x": -float(pos) if isinstance(pos, (int, float)) else None,
                   "disc": discs.get(l.get("level"))})
    return series, discs, fs


def chain_axes(discs):
    """[(name, centre, axis, spacing)] of the reported discs, in cranio-caudal name order."""
    named = sorted((n for n in discs if n in ORDER), key=ORDER.index)
    pts = [discs[n] for n in named]
    out = []
    for i, n in enumerate(named):
        a, b = pts[max(i - 1, 0)], pts[min(i + 1, len(pts) - 1)]
        steps = max(min(i + 1, len(pts) - 1) - max(i - 1, 0), 1)
        out.append((n, pts[i], unit(sub(b, a)), norm(sub(b, a)) / steps))
    return out


def match_position(ref, ref_disc, fs):
    """The reported foramen (and its axial offset) at the reference disc, same side."""
    q, u = ref_disc
    best = None
    for f in fs:
        if f["side"] != ref["side"] or f["disc"] is None:
            continue
        off = sub(f["disc"], q)
        axial = dot(off, u)
        across = norm(sub(off, scale(u, axial)))
        if abs(axial) <= AXIAL_TOL_MM and across <= ACROSS_TOL_MM:
            if best is None or abs(axial) < abs(best[1]):
                best = (f, axial)
    return best


def match_outline(ref, discs, fs):
    """No body labels (SCT): the reported disc nearest the outline centroid along the chain."""
    p = ref["centroid"]
    best = None
    for n, c, u, spacing in chain_axes(discs):
        axial = dot(sub(p, c), u)
        if abs(axial) <= 0.5 * spacing and (best is None or abs(axial) < abs(best[1])):
            best = (n, axial)
    if best is None:
        return None
    f = next((f for f in fs if f["level"] == best[0] and f["side"] == ref["side"]), None)
    return (f, best[1]) if f else None


def outcome(ref, f, extra=None):
    out = {"level": f["level"], "area": f["area"], "confidence": f["confidence"], "x": f["x"]}
    if extra is not None:
        out["axial_mm"] = round(extra, 1)
    if f["area"] is not None:
        ratio = f["area"] / ref["area"]
        out["ratio"] = round(ratio, 4)
        out["within"] = abs(ratio - 1.0) <= TOL[group_of(ref["level"])]
        out["within20"] = abs(ratio - 1.0) <= CAL_TOL
    return out


def score_volume(refs, gt, report):
    """One row per reference foramen: position and name matches."""
    series, discs, fs = reported(report)
    ref_discs = {n: (q, u) for n, q, u in references(gt)} if gt else None
    midline = series.get("midline_x_mm") if series else None
    rows = []
    for r in refs:
        row = {"level": r["level"], "side": r["side"], "group": group_of(r["level"]),
               "ref_area": round(r["area"], 1), "ref_plane_x": r["plane_x"], "quality": r["quality"],
               "rule": "gt" if ref_discs is not None else "outline"}
        if ref_discs is not None:
            m = match_position(r, ref_discs[r["level"]], fs) if r["level"] in ref_discs else None
        else:
            m = match_outline(r, discs, fs)
        row["position"] = outcome(r, m[0], m[1]) if m else None
        if not m and ref_discs is not None and r["level"] in ref_discs and discs:
            # why not matched: the nearest reported disc of any name, along the axis
            q, u = ref_discs[r["level"]]
            k = min(discs, key=lambda d: abs(dot(sub(discs[d], q), u)))
            row["nearest_disc"] = {"level": k, "axial_mm": round(dot(sub(discs[k], q), u), 1)}
        n = next((f for f in fs if f["level"] == r["level"] and f["side"] == r["side"]), None)
        row["name"] = outcome(r, n) if n else None
        if isinstance(midline, (int, float)):
            row["ref_side_of_midline"] = ("left" if r["plane_x"] > midline else "right")
        if gt is not None and row["position"] and row["position"]["x"] is not None:
            row["reported_side_of_canal"] = ("left" if row["position"]["x"] > gt["canal_x_mm"]
                                             else "right")
        rows.append(row)
    return rows


# ---------------------------------------------------------------- figures
def group_figures(rows, key):
    n = len(rows)
    ms = [r[key] for r in rows if r[key] and r[key]["area"] is not None]
    within = sum(1 for m in ms if m["within"])
    ratios = [m["ratio"] for m in ms]
    out = {"reference": n, "matched": sum(1 for r in rows if r[key]), "found": len(ms),
           "within": within,
           "found_frac": round(len(ms) / n, 3) if n else None,
           "within_frac": round(within / n, 3) if n else None,
           "median_ratio": round(median(ratios), 3) if ratios else None}
    if rows and rows[0]["group"] == "L5-S1":
        ok = sum(1 for r in rows if r[key] and (
            (r[key]["area"] is not None and r[key]["within"])
            or (r[key]["confidence"] or 0.0) < L5S1_LOW_CONF))
        out["acceptable"] = ok
        # the same counting only foramina reported with an area (a blank entry has confidence 0)
        out["acceptable_measured"] = sum(1 for r in rows if r[key] and r[key]["area"] is not None and (
            r[key]["within"] or (r[key]["confidence"] or 0.0) < L5S1_LOW_CONF))
        out["acceptable_frac"] = round(ok / n, 3) if n else None
        out["criterion_met"] = bool(n) and ok / n >= L5S1_TARGET
    return out


def calibration(rows, key="position"):
    ms = [r[key] for r in rows if r[key] and r[key]["area"] is not None
          and r[key]["confidence"] is not None]
    cal = []
    for lo, hi in CAL_BINS:
        b = [m for m in ms if lo <= m["confidence"] < hi]
        w = sum(1 for m in b if m["within20"])
        cal.append({"bin": f"{lo:g}-{min(hi, 1.0):g}", "count": len(b),
                    "fraction_within20": round(w / len(b), 3) if b else None})
    conf = [m for m in ms if m["confidence"] >= CONFIDENT]
    cw = sum(1 for m in conf if m["within20"])
    return cal, {"count": len(conf), "within20": cw,
                 "fraction": round(cw / len(conf), 3) if conf else None}


def side_figures(rows):
    a = [r for r in rows if "ref_side_of_midline" in r]
    b = [r for r in rows if "reported_side_of_canal" in r]
    dx = [abs(r["position"]["x"] - r["ref_plane_x"]) for r in rows
          if r["position"] and r["position"]["x"] is not None and r["position"]["area"] is not None]
    return {"ref_vs_midline": len(a), "ref_vs_midline_agree": sum(
                1 for r in a if r["ref_side_of_midline"] == r["side"]),
            "reported_vs_canal": len(b), "reported_vs_canal_agree": sum(
                1 for r in b if r["reported_side_of_canal"] == r["side"]),
            "plane_dx_median": round(median(dx), 1) if dx else None,
            "plane_dx_max": round(max(dx), 1) if dx else None}


def summarize(rows):
    out = {"groups": {}}
    for g in GROUPS:
        rs = [r for r in rows if r["group"] == g]
        if rs or g != "other":
            out["groups"][g] = {"position": group_figures(rs, "position"),
                                "name": group_figures(rs, "name")}
    cal, conf = calibration(rows)
    out["calibration"], out["confident"] = cal, conf
    _, out["confident_upper"] = calibration([r for r in rows if r["group"] == "L1-L2..L4-L5"])
    out["side"] = side_figures(rows)
    return out


def repeatability(refs):
    pairs = []
    for (s, v), readings in sorted(refs.items()):
        if 1 not in readings or 2 not in readings:
            continue
        second = {(f["level"], f["side"]): f for f in readings[2]}
        for f in readings[1]:
            g = second.get((f["level"], f["side"]))
            if g:
                pairs.append({"set": s, "volume": v, "level": f["level"], "side": f["side"],
                              "group": group_of(f["level"]), "a1": round(f["area"], 1),
                              "a2": round(g["area"], 1), "x1": f["plane_x"], "x2": g["plane_x"],
                              "readers": [f.get("reader"), g.get("reader")]})
    out = {}
    for label, ps in (("all", pairs),
                      ("L1-L2..L4-L5", [p for p in pairs if p["group"] == "L1-L2..L4-L5"]),
                      ("L5-S1", [p for p in pairs if p["group"] == "L5-S1"]),
                      ("same reader", [p for p in pairs if p["readers"][0] == p["readers"][1]]),
                      ("two readers", [p for p in pairs if p["readers"][0] != p["readers"][1]])):
        if not ps:
            out[label] = {"pairs": 0}
            continue
        d = [abs(p["a1"] - p["a2"]) for p in ps]
        rel = [abs(p["a1"] - p["a2"]) / (0.5 * (p["a1"] + p["a2"])) for p in ps]
        dx = [abs(p["x1"] - p["x2"]) for p in ps]
        out[label] = {"pairs": len(ps), "mean_abs_diff_mm2": round(sum(d) / len(d), 1),
                      "rel_diff_median": round(median(rel), 3),
                      "rel_diff_p90": round(percentile(rel, 90), 3),
                      "within20": sum(1 for r in rel if r <= 0.20),
                      "within20_frac": round(sum(1 for r in rel if r <= 0.20) / len(rel), 3),
                      "plane_dx_mean_mm": round(sum(dx) / len(dx), 1),
                      "plane_dx_max_mm": round(max(dx), 1),
                      "same_plane": sum(1 for x in dx if x < 0.5)}
    return out, pairs


def evaluate(work, ref_dir):
    refs, files, problems = load_references(ref_dir)
    dicom, results = os.path.join(work, "dicom"), os.path.join(work, "results")
    table, everything = {}, []
    for s in SETS + ["SCT"]:
        vols = sorted(v for (rs, v), rd in refs.items() if rs == s and 1 in rd)
        if not vols:
            continue
        acqs = ["SCT"] if s == "SCT" else [a for a in ACQS if os.path.isdir(os.path.join(dicom, s, a))]
        for acq in acqs:
            rows = []
            for v in vols:
                if s == "SCT":
                    st = None
                    try:
                        with open(os.path.join(results, "SCT", "status.txt")) as fh:
                            st = fh.read().strip()
                    except OSError:
                        pass
                    gt = None
                    rep = load_json(os.path.join(results, "SCT", "report.json")) if st == "measured" else None
                else:
                    gt = load_json(os.path.join(dicom, s, v, "gt.json"))
                    if gt is None:
                        problems.append(f"{s}-{v}: no gt.json under {dicom}, not scored")
                        continue
                    rep = load_json(os.path.join(results, s, acq, v, "report.json"))
                for r in score_volume(refs[(s, v)][1], gt, rep):
                    r["set"], r["acq"], r["volume"] = s, acq, v
                    rows.append(r)
            if rows:
                table.setdefault(s, {})[acq] = summarize(rows)
                everything.extend(rows)
    rep_fig, pairs = repeatability(refs)
    n_read = sum(len(rd[1]) for rd in refs.values() if 1 in rd)
    return {"reference": {"files": files, "volumes": sum(1 for rd in refs.values() if 1 in rd),
                          "foramina": n_read,
                          "unread": sum(f["unread"] for f in files if f["reading"] == 1),
                          "problems": problems},
            "table": table, "overall": summarize(everything) if everything else None,
            "repeatability": rep_fig, "repeat_pairs": pairs, "foramina": everything}


# ---------------------------------------------------------------- text
def frac(a, b):
    return f"{a}/{b} {100.0 * a / b:5.1f}%" if b else "-"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}"


def print_text(res):
    ref = res["reference"]
    print(f"Foramina vs the real-scan reference: {ref['foramina']} foramina read in "
          f"{ref['volumes']} volumes ({ref['unread']} unread left out)")
    print(f"matched by position: the reported foramen of the same side whose disc lies within "
          f"{AXIAL_TOL_MM:g} mm of the reference disc along the spine; within = area within "
          f"{TOL['L1-L2..L4-L5']:.0%} ({TOL['L5-S1']:.0%} for L5-S1)")
    print(f"{'set':<4} {'acq':<11} {'levels':<13} {'ref':>4} {'match':>5} {'found':>13} {'within':>13} "
          f"{'ratio':>5} | by name: {'found':>13} {'within':>13} {'ratio':>5}")

    def line(s, acq, t):
        for g, f in t["groups"].items():
            p, n = f["position"], f["name"]
            if not p["reference"]:
                continue
            print(f"{s:<4} {acq:<11} {g:<13} {p['reference']:>4} {p['matched']:>5} "
                  f"{frac(p['found'], p['reference']):>13} "
                  f"{frac(p['within'], p['reference']):>13} {fmt_ratio(p['median_ratio']):>5} | "
                  f"{'':9}{frac(n['found'], n['reference']):>13} {frac(n['within'], n['reference']):>13} "
                  f"{fmt_ratio(n['median_ratio']):>5}")
    for s, accs in res["table"].items():
        for acq, t in accs.items():
            line(s, acq, t)
    line("all", "", res["overall"])
    print(f"(targets, L1-L2..L4-L5: found >= {TARGETS['found']:.0%}, within 20% >= "
          f"{TARGETS['within']:.0%}; match: a reported entry at the position, with or without an area; "
          "ratio = median measured/reference of the found ones)")
    print()
    print(f"L5-S1 criterion (acceptable = within 30% or matched with confidence < {L5S1_LOW_CONF:g}; "
          f"met when >= {L5S1_TARGET:.0%}), by position:")

    def l5(s, acq, t):
        f = t["groups"]["L5-S1"]["position"]
        if f["reference"]:
            print(f"  {s:<4} {acq:<11} within 30% {frac(f['within'], f['reference']):>13}   "
                  f"acceptable {frac(f['acceptable'], f['reference']):>13}   "
                  f"{'met' if f['criterion_met'] else 'NOT met'}   (of them with an area: "
                  f"{f['acceptable_measured']})")
    for s, accs in res["table"].items():
        for acq, t in accs.items():
            l5(s, acq, t)
    l5("all", "", res["overall"])
    print()
    print("Calibration (found foramina by position, all levels: count, fraction within 20%)")
    print(f"{'set':<4} {'acq':<11} " + " ".join(f"{b['bin']:>13}" for b in res["overall"]["calibration"])
          + f"  {'conf>=.7 within20':>19} {'(L1-L4 only)':>14}")

    def cal_row(s, acq, t):
        cells = []
        for b in t["calibration"]:
            fr = "-" if b["fraction_within20"] is None else f"{b['fraction_within20']:.2f}"
            cells.append(f"{b['count']:>6} {fr:>6}")
        c, cu = t["confident"], t["confident_upper"]
        print(f"{s:<4} {acq:<11} " + " ".join(cells) + f"  {frac(c['within20'], c['count']):>19}"
              f" {frac(cu['within20'], cu['count']):>14}")
    for s, accs in res["table"].items():
        for acq, t in accs.items():
            cal_row(s, acq, t)
    cal_row("all", "", res["overall"])
    print(f"(target: among foramina with confidence >= {CONFIDENT:g}, >= {TARGETS['confident_within']:.0%} "
          "within 20%)")
    print()
    print("Side and plane (reference plane vs the report's midline_x_mm; reported plane x = "
          "-min_area_slice_position_mm vs gt canal_x_mm; |reported - reference plane x| of found ones)")
    for s, accs in list(res["table"].items()) + [("all", {"": res["overall"]})]:
        for acq, t in accs.items():
            sd = t["side"]
            print(f"  {s:<4} {acq:<11} ref side of midline agrees "
                  f"{frac(sd['ref_vs_midline_agree'], sd['ref_vs_midline']):>14}   reported plane on its "
                  f"side of the canal {frac(sd['reported_vs_canal_agree'], sd['reported_vs_canal']):>14}"
                  f"   plane dx median {sd['plane_dx_median']} max {sd['plane_dx_max']} mm")
    print()
    print("Repeatability of the reading (foramina read twice; rel = |a1-a2| / mean; "
          "'two readers': the second reading by another reader)")
    print(f"  {'levels':<13} {'pairs':>5} {'mean|da|':>9} {'rel med':>8} {'rel p90':>8} "
          f"{'within 20%':>14} {'|dx| mean':>9} {'max':>5} {'same plane':>10}")
    for g, r in res["repeatability"].items():
        if not r["pairs"]:
            print(f"  {g:<13} {0:>5}")
            continue
        print(f"  {g:<13} {r['pairs']:>5} {r['mean_abs_diff_mm2']:>9.1f} {r['rel_diff_median']:>8.3f} "
              f"{r['rel_diff_p90']:>8.3f} {frac(r['within20'], r['pairs']):>14} "
              f"{r['plane_dx_mean_mm']:>9.1f} {r['plane_dx_max_mm']:>5.1f} {r['same_plane']:>10}")
    if ref["problems"]:
        print()
        print("Reference problems:")
        for p in ref["problems"]:
            print("  " + p)


# ---------------------------------------------------------------- self-test
def rect(y, z, w, h):
    return [[y, z], [y + w, z], [y + w, z + h], [y, z + h]]


def self_test():
    import tempfile
    gt = synthetic_gt(40.0)  # bodies 30 mm apart on an axis tilted 40 degrees
    gt["canal_x_mm"] = 0.0
    rd = {n: (q, u) for n, q, u in references(gt)}

    def ref_doc(vol, reading, entries):
        return {"schema": "foramen.reference/1", "set": "VB3", "volume": vol, "reading": reading,
                "reader": "self-test",
                "foramina": [{"level": lv, "side": sd, "plane_x_mm": (15.0 if sd == "left" else -15.0) + dx,
                              "vertices_mm": None if w is None else rect(0.0, 0.0, w, 10.0),
                              "quality": "clear", "notes": "unread" if w is None else ""}
                             for lv, sd, w, dx in entries]}
    first = [("L1-L2", "left", 10.0, 0.0), ("L2-L3", "left", 10.0, 0.0), ("L3-L4", "right", 8.0, 0.0),
             ("L4-L5", "right", None, 0.0), ("L5-S1", "left", 5.0, 0.0), ("L5-S1", "right", 5.0, 0.0)]
    repeat = [("L1-L2", "left", 9.0, 1.0), ("L3-L4", "right", 12.0, -2.0), ("L5-S1", "left", 6.0, 0.0)]

    def at(name, along=0.0):
        q, u = rd[name]
        return add(q, scale(u, along))

    def rep(discs, levels):
        return {"series": [{"status": "measured", "midline_x_mm": 0.0,
                            "discs": [{"level": n, "center_mm": c, "confidence": 1.0} for n, c in discs],
                            "levels": [{"level": lv, "side": sd, "min_area_mm2": a, "confidence": c,
                                        "min_area_slice_position_mm": None if a is None else
                                        (-15.0 if sd == "left" else 15.0)}
                                       for lv, sd, a, c in levels]}]}
    q12, u12 = rd["L1-L2"]
    # volume 01: every name one level too caudal; "L1-L2" sits one spacing above the reference L1-L2
    rep01 = rep([("L1-L2", add(q12, scale(u12, -30.0))), ("L2-L3", at("L1-L2", 2.0)),
                 ("L3-L4", at("L2-L3")), ("L4-L5", at("L3-L4")), ("L5-S1", at("L4-L5")),
                 ("S1-S2", at("L5-S1"))],
                [("L1-L2", "left", 100.0, 0.9), ("L2-L3", "left", 110.0, 0.8),
                 ("L3-L4", "left", 130.0, 0.95), ("L4-L5", "right", 70.0, 0.6),
                 ("L5-S1", "left", 20.0, 0.3)])
    # volume 02: right names; L1-L2 7 mm off along the axis; L2-L3 left not measured
    rep02 = rep([("L1-L2", at("L1-L2", 7.0)), ("L2-L3", at("L2-L3")), ("L3-L4", at("L3-L4")),
                 ("L4-L5", at("L4-L5")), ("L5-S1", at("L5-S1", -3.0))],
                [("L1-L2", "left", 100.0, 0.9), ("L2-L3", "left", None, 0.0),
                 ("L3-L4", "right", 80.0, 0.72), ("L5-S1", "left", 62.0, 0.9),
                 ("L5-S1", "right", 20.0, 0.3)])
    with tempfile.TemporaryDirectory() as tmp:
        ref_dir, work = os.path.join(tmp, "ref"), os.path.join(tmp, "work")
        os.makedirs(os.path.join(ref_dir, "repeat"))
        for vol, report in (("01", rep01), ("02", rep02)):
            with open(os.path.join(ref_dir, f"VB3-{vol}.json"), "w") as fh:
                json.dump(ref_doc(vol, 1, first), fh)
            os.makedirs(os.path.join(work, "dicom", "VB3", vol))
            with open(os.path.join(work, "dicom", "VB3", vol, "gt.json"), "w") as fh:
                json.dump(gt, fh)
            d = os.path.join(work, "results", "VB3", "1mm", vol)
            os.makedirs(d)
            os.makedirs(os.path.join(work, "dicom", "VB3", "1mm", vol), exist_ok=True)
            with open(os.path.join(d, "report.json"), "w") as fh:
                json.dump(report, fh)
        with open(os.path.join(ref_dir, "repeat", "VB3-01.json"), "w") as fh:
            json.dump(ref_doc("01", 2, repeat), fh)
        res = evaluate(work, ref_dir)
    assert res["reference"]["foramina"] == 10 and res["reference"]["unread"] == 2, res["reference"]
    t = res["table"]["VB3"]["1mm"]
    up, l5 = t["groups"]["L1-L2..L4-L5"], t["groups"]["L5-S1"]
    # by position: 01 L1-L2 1.1 in, L2-L3 1.3 out, L3-L4 0.875 in; 02 L1-L2 unmatched (7 mm),
    # L2-L3 matched without area, L3-L4 1.0 in -> found 4/6, within 3/6, median (1.0 + 1.1) / 2
    p = up["position"]
    assert (p["reference"], p["matched"], p["found"], p["within"]) == (6, 5, 4, 3), p
    assert abs(p["median_ratio"] - 1.05) < 1e-9, p
    # by name: 01 L1-L2 1.0, L2-L3 1.1, L3-L4 right missing; 02 L1-L2 1.0, L3-L4 1.0
    n = up["name"]
    assert (n["found"], n["within"], n["median_ratio"]) == (4, 4, 1.0), n
    # L5-S1: 01 unmatched both sides; 02 left 1.24 (within 30%), right 0.4 with confidence 0.3
    p = l5["position"]
    assert (p["reference"], p["found"], p["within"], p["acceptable"]) == (4, 2, 1, 2), p
    assert p["criterion_met"] is False and abs(p["median_ratio"] - 0.82) < 1e-9, p
    assert p["acceptable_measured"] == 2, p
    # by name, 01's "L5-S1" left (at the reference L4-L5) is found: 0.4, confidence 0.3
    n = l5["name"]
    assert (n["found"], n["within"], n["acceptable"]) == (3, 1, 3), n
    # calibration over found-by-position: 0.8 in, 0.95 out, 0.6 in, 0.72 in, 0.9 out (1.24), 0.3 out
    assert [b["count"] for b in t["calibration"]] == [0, 1, 1, 2, 2], t["calibration"]
    assert [b["fraction_within20"] for b in t["calibration"]] == [None, 0.0, 1.0, 1.0, 0.0]
    assert t["confident"] == {"count": 4, "within20": 2, "fraction": 0.5}, t["confident"]
    assert t["confident_upper"]["count"] == 3 and t["confident_upper"]["within20"] == 2
    sd = t["side"]
    assert sd["ref_vs_midline_agree"] == sd["ref_vs_midline"] == 10, sd
    assert sd["reported_vs_canal_agree"] == sd["reported_vs_canal"] == 6, sd
    assert sd["plane_dx_max"] == 0.0, sd
    # repeatability: (100, 90), (80, 120), (50, 60): |d| 10, 40, 10 -> mean 20;
    # rel 10/95, 40/100, 10/55 -> median 0.1818, p90 = 0.1818 + 0.8 (0.4 - 0.1818)
    r = res["repeatability"]["all"]
    assert r["pairs"] == 3 and r["mean_abs_diff_mm2"] == 20.0, r
    assert r["rel_diff_median"] == round(10 / 55, 3), r
    assert r["rel_diff_p90"] == round(10 / 55 + 0.8 * (0.4 - 10 / 55), 3), r
    assert r["within20"] == 2 and r["plane_dx_mean_mm"] == 1.0 and r["plane_dx_max_mm"] == 2.0, r
    assert res["repeatability"]["L5-S1"]["pairs"] == 1
    assert res["repeatability"]["same reader"]["pairs"] == 3
    assert res["repeatability"]["two readers"]["pairs"] == 0
    # the outline rule (SCT): a left L3-L4 outline 4 mm caudal of the reported L3-L4 disc
    discs = {n: at(n) for n in ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]}
    fs = [{"level": "L3-L4", "side": "left", "area": 90.0, "confidence": 0.8, "x": 15.0,
           "disc": discs["L3-L4"]}]
    ref = {"level": "L3-L4", "side": "left", "area": 100.0, "centroid": at("L3-L4", 4.0)}
    m = match_outline(ref, discs, fs)
    assert m and m[0]["level"] == "L3-L4" and abs(m[1] - 4.0) < 1e-9, m
    ref["centroid"] = at("L3-L4", -16.0)  # beyond half the 30 mm spacing: the L2-L3 disc
    assert match_outline(ref, discs, fs) is None
    assert abs(shoelace(rect(0, 0, 8, 10)) - 80.0) < 1e-12 and percentile([1, 2, 3, 4], 50) == 2.5
    print("self-test on a synthetic reference and reports: ok")
    return 0


def main(argv):
    args, flags, ref_dir = [], set(), DEFAULT_REF
    it = iter(argv[1:])
    for a in it:
        if a.startswith("--ref="):
            ref_dir = a[len("--ref="):]
        elif a == "--ref":
            ref_dir = next(it, DEFAULT_REF)
        elif a.startswith("--"):
            flags.add(a)
        else:
            args.append(a)
    if "--self-test" in flags:
        try:
            return self_test()
        except AssertionError as e:
            print(f"self-test FAILED: {e}", file=sys.stderr)
            return 1
    if len(args) != 1 or flags - {"--json"}:
        print(__doc__)
        return 2
    res = evaluate(args[0], ref_dir)
    if res["overall"] is None:
        print(f"no reference foramina to score ({ref_dir}, {args[0]})", file=sys.stderr)
        return 1
    if "--json" in flags:
        print(json.dumps(res, indent=1))
    else:
        print_text(res)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
