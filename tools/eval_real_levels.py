#!/usr/bin/env python3
"""Score `foramen measure` level labels on the real VB3 / VB2 volumes (tools/eval-real.sh).

Usage (standard library only):
    python3 tools/eval_real_levels.py WORK_DIR [--json]
    python3 tools/eval_real_levels.py --self-test [WORK_DIR]

WORK_DIR/dicom/<SET>/<NN>/gt.json       ground truth (tools/real_to_dicom.py)
WORK_DIR/dicom/<SET>/<acq>/<NN>/acq.json geometry of each acquisition
WORK_DIR/results/<SET>/<acq>/<NN>/report.json   `foramen measure` output
WORK_DIR/results/SCT/                   optional: status.txt and report.json of the SCT run

Reference discs (../shared/notes/real-data.md): the centre of the disc between two labelled
bodies is the midpoint of their centroids; L5-S1 = L5 + 0.55 (L5 - L4). VB2 also gives
T11-T12 and T12-L1 (used for the axis and to name shifts; only L1-L2..L5-S1 are scored).
The local cranio-caudal axis at a reference disc is the direction between its neighbouring
reference discs (one-sided at the ends).

A reported disc named Lk-.. is right when its centre lies within 6 mm of that level's
reference along the local axis, and (sanity bound) within 25 mm of it across the axis.
Every reported lumbar disc that is not right is wrong (a level named twice: the extra one
is wrong). A reference disc is found when a reported disc of its name is right.
"Confident wrong": a wrong disc with confidence >= 0.5 in a series without any labelling
warning; "cw*" also counts it when the series' only warnings are the generic ones in
GENERIC_WARNINGS (stated weighting vs contrast seen, T2 used for lack of T1), which every
VB3 / VB2 series carries. A wrong disc is described by where it really is: the level coordinate along the
chain of references (extrapolated beyond the ends) gives "shift +n" when it sits within
6 mm of another level's reference (+ = named n levels too caudal), else "between levels".
"""
import json
import math
import os
import sys

LUMBAR = ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
# Cranio-caudal order of every disc name a report may use; index 0 = L1-L2.
ORDER = ["T8-T9", "T9-T10", "T10-T11", "T11-T12", "T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5",
         "L5-S1", "S1-S2", "S2-S3", "S3-S4", "S4-S5"]
INDEX = {n: i - ORDER.index("L1-L2") for i, n in enumerate(ORDER)}
INDEX["L5-L6"] = INDEX["L5-S1"]  # six lumbar vertebrae: the last mobile disc
INDEX["L6-S1"] = INDEX["L5-S1"] + 1
AXIAL_TOL_MM = 6.0
ACROSS_TOL_MM = 25.0
CONFIDENT = 0.5
# Warnings every series of a set carries, which say nothing about the labels: the
# "confident wrong*" figure counts a wrong disc as covered only by the other warnings.
GENERIC_WARNINGS = ("unlike the series' stated weighting", "series used (no usable sagittal")
L5S1_FACTOR = 0.55
SETS = ["VB3", "VB2"]
ACQS = ["1mm", "3mm", "4mm", "3mm-coarse", "4mm-coarse"]
BINS = [(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0000001)]


def sub(a, b):
    return [a[i] - b[i] for i in range(3)]


def add(a, b):
    return [a[i] + b[i] for i in range(3)]


def scale(a, s):
    return [a[i] * s for i in range(3)]


def dot(a, b):
    return sum(a[i] * b[i] for i in range(3))


def norm(a):
    return math.sqrt(dot(a, a))


def unit(a):
    n = norm(a)
    return scale(a, 1.0 / n) if n > 0 else [0.0, 0.0, -1.0]


def references(gt):
    """Ordered [(name, centre, axis)] of the reference discs, cranial first."""
    c = {k: v["centroid_mm"] for k, v in gt["labels"].items() if v}
    bodies = ["T11", "T12", "L1", "L2", "L3", "L4", "L5"]
    refs = []
    for upper, lower in zip(bodies, bodies[1:]):
        if upper in c and lower in c:
            refs.append((f"{upper}-{lower}", scale(add(c[upper], c[lower]), 0.5)))
    if "L4" in c and "L5" in c:
        refs.append(("L5-S1", add(c["L5"], scale(sub(c["L5"], c["L4"]), L5S1_FACTOR))))
    out = []
    for i, (name, p) in enumerate(refs):
        a = refs[max(i - 1, 0)][1]
        b = refs[min(i + 1, len(refs) - 1)][1]
        out.append((name, p, unit(sub(b, a))))
    return out


def level_coordinate(refs, p):
    """Fractional level index of point p along the reference chain (extrapolated)."""
    pts = [(INDEX[n], q) for n, q, _ in refs]
    best = None
    for (ia, a), (ib, b) in zip(pts, pts[1:]):
        d = sub(b, a)
        f = dot(sub(p, a), d) / dot(d, d)
        dist = norm(sub(p, add(a, scale(d, min(max(f, 0.0), 1.0)))))
        if best is None or dist < best[0]:
            best = (dist, ia + f * (ib - ia), f)
    if best[2] < 0 or best[2] > 1:
        # beyond the chain: extrapolate only from the end segment
        ia, a = pts[0] if best[2] < 0 else pts[-2]
        ib, b = pts[1] if best[2] < 0 else pts[-1]
        d = sub(b, a)
        return ia + dot(sub(p, a), d) / dot(d, d) * (ib - ia)
    return best[1]


def chain_distance(refs, p):
    """Distance (mm) from p to the reference chain, extended by one spacing at each end."""
    pts = [q for _, q, _ in refs]
    pts = [add(pts[0], sub(pts[0], pts[1]))] + pts + [add(pts[-1], sub(pts[-1], pts[-2]))]
    best = float("inf")
    for a, b in zip(pts, pts[1:]):
        d = sub(b, a)
        f = min(max(dot(sub(p, a), d) / dot(d, d), 0.0), 1.0)
        best = min(best, norm(sub(p, add(a, scale(d, f)))))
    return best


def locate(refs, p):
    """(level index the point sits at, or None; description of where it is)."""
    t = level_coordinate(refs, p)
    k = round(t)
    by_index = {INDEX[n]: (n, q, u) for n, q, u in refs}
    if k in by_index:
        n, q, u = by_index[k]
        ax = dot(sub(p, q), u)
        if abs(ax) <= AXIAL_TOL_MM:
            return k, None
        return None, f"between levels, {abs(ax):.1f} mm {'caudal' if ax > 0 else 'cranial'} of {n}"
    # beyond the references: the end segment's spacing decides
    ends = [q for _, q, _ in refs]
    first, last = INDEX[refs[0][0]], INDEX[refs[-1][0]]
    step = norm(sub(ends[1], ends[0])) if k < first else norm(sub(ends[-1], ends[-2]))
    if abs(t - k) * step <= AXIAL_TOL_MM:
        return k, None
    if k < first:
        return None, f"about {first - t:.1f} levels above {refs[0][0]}"
    return None, f"about {t - last:.1f} levels below {refs[-1][0]}"


def level_name(k):
    for n, i in INDEX.items():
        if i == k and n in ORDER:
            return n
    return f"level index {k} (0 = L1-L2)"


def score_series(gt, report):
    """Score one report against one gt. Returns a dict."""
    refs = references(gt)
    ref_by = {n: (q, u) for n, q, u in refs}
    res = {"status": None, "reason": None, "warnings": [], "lumbar_count": None,
           "found": {lv: False for lv in LUMBAR}, "discs": [], "other_discs": []}
    series = None
    if report is None:
        res["status"] = "no report"
    else:
        ss = report.get("series") or []
        series = next((s for s in ss if s.get("status") == "measured"), ss[0] if ss else None)
        if series is None:
            res["status"] = "no series"
    if series is not None:
        res["status"] = series.get("status")
        res["reason"] = series.get("reason")
        res["warnings"] = [str(w) for w in series.get("labeling_warnings") or []]
        res["lumbar_count"] = series.get("lumbar_count")
    discs = (series or {}).get("discs") or []
    for d in discs:
        name = d.get("level")
        p = [float(v) for v in d.get("center_mm") or [0, 0, 0]]
        conf = d.get("confidence")
        conf = float(conf) if isinstance(conf, (int, float)) else None
        entry = {"level": name, "center_mm": p, "confidence": conf}
        if name not in LUMBAR:
            k, why = locate(refs, p)
            entry["at"] = level_name(k) if k is not None else why
            res["other_discs"].append(entry)
            continue
        q, u = ref_by[name]
        off = sub(p, q)
        axial = dot(off, u)
        across = norm(sub(off, scale(u, axial)))
        entry["axial_mm"] = round(axial, 1)
        entry["across_mm"] = round(across, 1)
        right = abs(axial) <= AXIAL_TOL_MM and across <= ACROSS_TOL_MM and not res["found"][name]
        entry["right"] = right
        if name == "L5-S1" and isinstance(d.get("tilt_deg"), (int, float)):
            # Diagnostic only (not the criterion): the reference L5-S1 point lies in the
            # anterior half of a tilted disc, so a report at the disc's centre sits
            # cranial of it along the chain's axis; here the distance is taken along the
            # reported disc's own normal (canonical sagittal frame: down = -z, back = +y).
            t = math.radians(float(d["tilt_deg"]))
            normal = [0.0, math.sin(t), -math.cos(t)]
            along_n = dot(sub(q, p), normal)
            in_plane = norm(sub(sub(q, p), scale(normal, along_n)))
            entry["right_disc_plane"] = abs(along_n) <= AXIAL_TOL_MM and in_plane <= ACROSS_TOL_MM
        if right:
            res["found"][name] = True
        else:
            k, why = locate(refs, p)
            off_chain = chain_distance(refs, p)
            if off_chain > ACROSS_TOL_MM:
                entry["why"] = f"{off_chain:.0f} mm away from the spine ({why or 'level ' + level_name(k)})"
            elif k is not None and k != INDEX[name]:
                entry["shift"] = INDEX[name] - k
                entry["why"] = f"at {level_name(k)} (shift {INDEX[name] - k:+d})"
            elif k == INDEX[name]:
                entry["why"] = "duplicate name" if across <= ACROSS_TOL_MM else f"{across:.0f} mm across"
            else:
                entry["why"] = why
            confident = conf is not None and conf >= CONFIDENT
            entry["confident_wrong"] = confident and not res["warnings"]
            entry["confident_wrong_label_warnings"] = confident and not any(
                not any(g in w for g in GENERIC_WARNINGS) for w in res["warnings"])
        res["discs"].append(entry)
    return res


def describe_failure(r):
    """One line: what went wrong in one series (None when all five are right and none wrong)."""
    wrong = [d for d in r["discs"] if not d["right"]]
    missing = [lv for lv in LUMBAR if not r["found"][lv]
               and not any(d["level"] == lv for d in r["discs"])]
    if not wrong and not missing:
        return None
    parts = []
    if r["status"] != "measured":
        parts.append(f"status {r['status']}" + (f": {r['reason']}" if r["reason"] else ""))
    shifts = {d.get("shift") for d in wrong}
    if wrong and len(shifts) == 1 and None not in shifts:
        s = shifts.pop()
        parts.append(f"{len(wrong)} disc(s) shifted by {s:+d} level(s) "
                     f"({'named too caudal' if s > 0 else 'named too cranial'}): "
                     + ", ".join(d["level"] for d in wrong))
    else:
        for d in wrong:
            parts.append(f"{d['level']}: {d['why']}")
    if missing and r["status"] == "measured":
        parts.append("missing " + ", ".join(missing))
    elif missing and not parts:
        parts.append("missing " + ", ".join(missing))
    confident = [d["level"] for d in wrong if d.get("confident_wrong")]
    if confident:
        parts.append("CONFIDENT WRONG: " + ", ".join(confident))
    generic = [d["level"] for d in wrong
               if d.get("confident_wrong_label_warnings") and not d.get("confident_wrong")]
    if generic:
        parts.append("confident wrong but for generic warnings: " + ", ".join(generic))
    if r["warnings"]:
        parts.append(f"{len(r['warnings'])} warning(s)")
    return "; ".join(parts)


def summarize(rows):
    """rows: list of scored series. Figures for one set x acquisition (or any group)."""
    n = len(rows)
    found = sum(sum(r["found"].values()) for r in rows)
    discs = [d for r in rows for d in r["discs"]]
    wrong = [d for d in discs if not d["right"]]
    out = {"volumes": n, "reference_discs": 5 * n, "found": found,
           "found_pct": round(100.0 * found / (5 * n), 1) if n else 0.0,
           "per_level": {lv: sum(1 for r in rows if r["found"][lv]) for lv in LUMBAR},
           "reported_lumbar": len(discs), "wrong": len(wrong),
           "missing": sum(1 for r in rows for lv in LUMBAR
                          if not any(d["level"] == lv for d in r["discs"])),
           "confident_wrong": sum(1 for d in wrong if d.get("confident_wrong")),
           "confident_wrong_label_warnings": sum(1 for d in wrong
                                                 if d.get("confident_wrong_label_warnings")),
           "wrong_conf_ge_05": sum(1 for d in wrong if (d["confidence"] or 0) >= CONFIDENT),
           "l5s1_right_disc_plane": sum(1 for d in discs if d.get("right_disc_plane")),
           "all_five_right": sum(1 for r in rows if all(r["found"].values())
                                 and all(d["right"] for d in r["discs"])),
           "series_with_warnings": sum(1 for r in rows if r["warnings"]),
           "not_measured": sum(1 for r in rows if r["status"] != "measured"),
           "calibration": calibration(discs)}
    return out


def calibration(discs):
    cal = []
    for lo, hi in BINS:
        ds = [d for d in discs if d["confidence"] is not None and lo <= d["confidence"] < hi]
        right = sum(1 for d in ds if d["right"])
        cal.append({"bin": f"{lo:g}-{min(hi, 1.0):g}", "count": len(ds),
                    "fraction_right": round(right / len(ds), 3) if ds else None})
    return cal


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def evaluate(work):
    dicom, results = os.path.join(work, "dicom"), os.path.join(work, "results")
    table, failures, everything = {}, [], []
    for s in SETS:
        sdir = os.path.join(dicom, s)
        if not os.path.isdir(sdir):
            continue
        vols = sorted(v for v in os.listdir(sdir) if os.path.isfile(os.path.join(sdir, v, "gt.json")))
        for acq in ACQS:
            if not os.path.isdir(os.path.join(sdir, acq)):
                continue
            rows = []
            for v in vols:
                gt = load_json(os.path.join(sdir, v, "gt.json"))
                rep = load_json(os.path.join(results, s, acq, v, "report.json"))
                r = score_series(gt, rep)
                r["set"], r["acq"], r["volume"] = s, acq, v
                rows.append(r)
                f = describe_failure(r)
                if f:
                    failures.append({"set": s, "acq": acq, "volume": v, "what": f})
            table.setdefault(s, {})[acq] = summarize(rows)
            everything.extend(rows)
    return {"table": table, "overall": summarize(everything) if everything else None,
            "failures": failures, "sct": sct_result(os.path.join(results, "SCT")),
            "series": everything}


def sct_result(d):
    status = None
    try:
        with open(os.path.join(d, "status.txt")) as f:
            status = f.read().strip()
    except OSError:
        return None
    out = {"status": status}
    rep = load_json(os.path.join(d, "report.json"))
    if status == "measured" and rep:
        ss = rep.get("series") or []
        s = next((s for s in ss if s.get("status") == "measured"), ss[0] if ss else {})
        out["series_status"] = s.get("status")
        out["discs"] = [{"level": x.get("level"), "center_mm": x.get("center_mm"),
                         "confidence": x.get("confidence"), "tilt_deg": x.get("tilt_deg")}
                        for x in s.get("discs") or []]
        out["warnings"] = s.get("labeling_warnings") or []
        out["reason"] = s.get("reason")
    return out


def pct(a, b):
    return f"{a}/{b} {100.0 * a / b:5.1f}%" if b else "-"


def print_text(res):
    print("Level labelling on real MRI (reference disc found = reported disc of that name within "
          f"{AXIAL_TOL_MM:g} mm along the spine)")
    hdr = (f"{'set':<4} {'acq':<11} {'found':>15}  " + " ".join(f"{lv:>6}" for lv in LUMBAR)
           + f"  {'wrong':>5} {'miss':>4} {'conf.wrong':>10} {'cw*':>4} {'wrong>=.5':>9} {'all5':>5} {'warn':>4}")
    print(hdr)
    for s, accs in res["table"].items():
        for acq, t in accs.items():
            n = t["volumes"]
            print(f"{s:<4} {acq:<11} {pct(t['found'], t['reference_discs']):>15}  "
                  + " ".join(f"{100.0 * t['per_level'][lv] / n:5.1f}%" for lv in LUMBAR)
                  + f"  {t['wrong']:>5} {t['missing']:>4} {t['confident_wrong']:>10}"
                  f" {t['confident_wrong_label_warnings']:>4}"
                  f" {t['wrong_conf_ge_05']:>9} {t['all_five_right']:>2}/{n:<2} {t['series_with_warnings']:>4}")
    print("L5-S1 judged along the reported disc's own normal (diagnostic, not the criterion): "
          + ", ".join(f"{s} {acq} {t['l5s1_right_disc_plane']}/{t['volumes']}"
                      for s, accs in res["table"].items() for acq, t in accs.items()))
    print("(found: reference discs found / all; per level: % of volumes; wrong: reported lumbar discs "
          "not right; miss: levels not reported; conf.wrong: wrong with confidence >= 0.5 in a "
          "series without labelling warnings; cw*: the same when only the generic weighting/contrast "
          "warnings are present; wrong>=.5: the same ignoring warnings; all5: volumes "
          "with all five right and nothing wrong; warn: series with labelling warnings)")
    print()
    print("Calibration (reported lumbar discs: count, fraction right)")
    print(f"{'set':<4} {'acq':<11} " + " ".join(f"{b['bin']:>14}" for b in res["overall"]["calibration"]))

    def cal_row(label, acq, cal):
        cells = []
        for b in cal:
            fr = "-" if b["fraction_right"] is None else f"{b['fraction_right']:.2f}"
            cells.append(f"{b['count']:>6} {fr:>7}")
        print(f"{label:<4} {acq:<11} " + " ".join(cells))
    for s, accs in res["table"].items():
        for acq, t in accs.items():
            cal_row(s, acq, t["calibration"])
    cal_row("all", "", res["overall"]["calibration"])
    print()
    o = res["overall"]
    print(f"overall: {pct(o['found'], o['reference_discs'])} reference discs found, {o['wrong']} wrong, "
          f"{o['confident_wrong']} confident wrong ({o['confident_wrong_label_warnings']} with only generic "
          f"warnings), {o['all_five_right']}/{o['volumes']} series all five right")
    print()
    print(f"Failures ({len(res['failures'])} series):")
    for f in res["failures"]:
        print(f"  {f['set']} {f['volume']} {f['acq']:<11} {f['what']}")
    print()
    sct = res["sct"]
    if sct is None:
        print("SCT: not run")
    elif sct["status"] != "measured":
        print(f"SCT: {sct['status']}")  # e.g. "skipped (binary reads no NIfTI)"
    else:
        print(f"SCT t2_lumbar: series {sct.get('series_status')}"
              + (f" ({sct['reason']})" if sct.get("reason") else ""))
        for d in sct.get("discs") or []:
            c = d["center_mm"] or []
            print(f"  {d['level']:<7} conf {d['confidence']}  centre " + ", ".join(f"{v:.1f}" for v in c))
        for w in sct.get("warnings") or []:
            print(f"  warning: {w}")


def fake_report(gt, shift=0, conf=0.9, warnings=()):
    refs = references(gt)
    names = [n for n, _, _ in refs]
    discs = []
    for n, q, _ in refs:
        k = INDEX[n] + shift
        name = level_name(k)
        if name in names or name in ORDER:
            discs.append({"level": name, "center_mm": q, "confidence": conf})
    return {"series": [{"status": "measured", "discs": discs, "labeling_warnings": list(warnings)}]}


def synthetic_gt(tilt_deg=0.0, with_thoracic=False):
    """Bodies 30 mm apart along an axis tilted by tilt_deg from -z towards +y."""
    t = math.radians(tilt_deg)
    u = [0.0, math.sin(t), -math.cos(t)]
    names = (["T11", "T12"] if with_thoracic else []) + ["L1", "L2", "L3", "L4", "L5"]
    labels = {}
    for i, n in enumerate(names):
        labels[n] = {"centroid_mm": [0.0, 5.0 + 30.0 * i * u[1], 100.0 + 30.0 * i * u[2]]}
    return {"labels": labels}


def self_test(work=None):
    for tilt in (0.0, 40.0):
        for thor in (False, True):
            gt = synthetic_gt(tilt, thor)
            r = score_series(gt, fake_report(gt))
            s = summarize([r])
            assert s["found"] == 5 and s["wrong"] == 0, (tilt, thor, r)
            for shift in (1, -1):
                r = score_series(gt, fake_report(gt, shift=shift))
                s = summarize([r])
                assert s["found"] == 0, (tilt, shift, r)
                shifted = [d for d in r["discs"] if not d["right"]]
                assert shifted and all(d.get("shift") == shift for d in shifted), r
                assert s["confident_wrong"] == len(shifted), s
                assert "shifted by" in describe_failure(r), describe_failure(r)
            r = score_series(gt, fake_report(gt, shift=1, warnings=["sacrum not in view"]))
            assert summarize([r])["confident_wrong"] == 0
    # the axis, not z: on a 40 degree tilt a disc 5 mm along the axis is right, one 5 mm
    # along the axis plus 10 mm across it too; one 7.5 mm along the axis is wrong
    gt = synthetic_gt(40.0)
    refs = {n: (q, u) for n, q, u in references(gt)}
    q, u = refs["L3-L4"]
    perp = [0.0, u[2], -u[1]]
    for along, across, ok in ((5.0, 0.0, True), (5.0, 10.0, True), (7.5, 0.0, False),
                              (-7.5, 0.0, False), (0.0, 30.0, False)):
        p = add(q, add(scale(u, along), scale(perp, across)))
        rep = {"series": [{"status": "measured", "labeling_warnings": [],
                           "discs": [{"level": "L3-L4", "center_mm": p, "confidence": 0.8}]}]}
        r = score_series(gt, rep)
        assert r["found"]["L3-L4"] == ok, (along, across, r)
    # a name reported twice: one right, one wrong
    rep = fake_report(gt)
    rep["series"][0]["discs"].append(dict(rep["series"][0]["discs"][0]))
    s = summarize([score_series(gt, rep)])
    assert s["found"] == 5 and s["wrong"] == 1, s
    # missing report -> nothing found, all missing
    s = summarize([score_series(gt, None)])
    assert s["found"] == 0 and s["missing"] == 5, s
    # L5-S1 reference = L5 + 0.55 (L5 - L4)
    c4, c5 = gt["labels"]["L4"]["centroid_mm"], gt["labels"]["L5"]["centroid_mm"]
    assert norm(sub(refs["L5-S1"][0], add(c5, scale(sub(c5, c4), 0.55)))) < 1e-9
    # calibration bins
    cal = calibration([{"confidence": 0.1, "right": False}, {"confidence": 0.8, "right": True},
                       {"confidence": 1.0, "right": False}])
    assert [b["count"] for b in cal] == [1, 0, 0, 2] and cal[3]["fraction_right"] == 0.5, cal
    print("self-test on synthetic spines: ok")
    if work:
        n = 0
        for s in SETS:
            sdir = os.path.join(work, "dicom", s)
            if not os.path.isdir(sdir):
                continue
            for v in sorted(os.listdir(sdir)):
                gt = load_json(os.path.join(sdir, v, "gt.json"))
                if gt is None:
                    continue
                a = summarize([score_series(gt, fake_report(gt))])
                b = summarize([score_series(gt, fake_report(gt, shift=1))])
                assert a["found"] == 5 and a["wrong"] == 0, (s, v, a)
                assert b["found"] == 0, (s, v, b)
                n += 1
        print(f"self-test on {n} real gt.json: reference reports 100%, shifted by one 0%: ok")
    print("self-test passed")
    return 0


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    flags = {a for a in argv[1:] if a.startswith("--")}
    if "--self-test" in flags:
        try:
            return self_test(args[0] if args else None)
        except AssertionError as e:
            print(f"self-test FAILED: {e}", file=sys.stderr)
            return 1
    if len(args) != 1 or flags - {"--json"}:
        print(__doc__)
        return 2
    res = evaluate(args[0])
    if not res["table"]:
        print(f"nothing to score under {args[0]}/dicom", file=sys.stderr)
        return 1
    if "--json" in flags:
        out = dict(res)
        out["series"] = [{k: v for k, v in r.items()} for r in res["series"]]
        print(json.dumps(out, indent=1))
    else:
        print_text(res)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
