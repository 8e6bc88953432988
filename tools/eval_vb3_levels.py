#!/usr/bin/env python3
"""Score `foramen measure` level labels on the VB3 real-MRI volumes against their GT bodies.

Usage (plain python3 is enough: only the standard library is used):
    python3 tools/eval_vb3_levels.py VB3_OUT_DIR RESULTS_DIR [--json]
    python3 tools/eval_vb3_levels.py --self-test [VB3_OUT_DIR]

VB3_OUT_DIR is the output of tools/vb3_to_dicom.py (VB3_OUT_DIR/NN/gt.json);
RESULTS_DIR/NN/report.json is what `foramen measure VB3_OUT_DIR/NN/series --out RESULTS_DIR/NN`
writes. The first series of the report (`series[0]`) is scored; its `discs` are
[{level, center_mm: [x, y, z] LPS mm, confidence}], plus `vertebrae`, `lumbar_count`,
`labeling_warnings`.

Criteria (issue 4, item 5), using the GT body centroids c(Lk) in the same LPS mm frame:
  * "Lk-Lk+1" (k = 1..4) is correct when z(c(Lk+1)) < z < z(c(Lk)) strictly, and
    |y - (y(c(Lk)) + y(c(Lk+1))) / 2| <= 25 mm;
  * "L5-S1" is correct when z(c(L5)) - 35 mm <= z < z(c(L5)) (below the L5 centroid,
    within 35 mm of it) and |y - y(c(L5))| <= 25 mm.
  A level reported more than once counts as wrong. A volume is fully correct when all five
  levels are present and correct. A "silent mislabel" is a wrong (present but incorrect)
  disc whose confidence is >= 0.5 while the series has no labeling warning; the issue
  requires zero of them. A volume whose report is missing or unreadable counts as all
  five levels missing.

Prints a per-volume table and the summary; `--json` prints a machine-readable summary
instead. `--self-test` checks the scoring on synthetic GT and, when VB3_OUT_DIR is given, on
fake reports built from every real gt.json (disc centres = midpoints of GT centroids) -> 100%. Always exits 0 (except for usage errors and a failed --self-test).
"""
import json
import os
import sys

LEVELS = ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
Y_TOL_MM = 25.0
L5S1_MAX_BELOW_MM = 35.0
LOW_CONFIDENCE = 0.5


def level_window(gt, level):
    """Return (z_low, z_high, y_ref) for a level from the GT centroids."""
    labels = gt["labels"]
    if level == "L5-S1":
        c5 = labels["L5"]["centroid_mm"]
        return c5[2] - L5S1_MAX_BELOW_MM, c5[2], c5[1]
    upper, lower = level.split("-")
    cu = labels[upper]["centroid_mm"]
    cl = labels[lower]["centroid_mm"]
    return cl[2], cu[2], (cu[1] + cl[1]) / 2.0


def disc_correct(gt, level, center):
    z_low, z_high, y_ref = level_window(gt, level)
    y, z = float(center[1]), float(center[2])
    if level == "L5-S1":
        z_ok = z_low <= z < z_high
    else:
        z_ok = z_low < z < z_high
    return z_ok and abs(y - y_ref) <= Y_TOL_MM


def evaluate_volume(name, gt, report):
    """Score one volume. report may be None (missing)."""
    res = {"volume": name, "report": report is not None, "n_discs": 0, "levels": {},
           "min_confidence": None, "warnings": [], "lumbar_count": None, "error": None}
    series = None
    if report is not None:
        try:
            series = report["series"][0]
        except (KeyError, IndexError, TypeError):
            res["error"] = "report has no series[0]"
    discs = []
    if series is not None:
        discs = series.get("discs") or []
        res["warnings"] = [str(w) for w in (series.get("labeling_warnings") or [])]
        res["lumbar_count"] = series.get("lumbar_count")
        if series.get("status") not in (None, "measured"):
            res["error"] = f"status {series.get('status')}: {series.get('reason')}"
    res["n_discs"] = len(discs)
    confs = [d.get("confidence") for d in discs if isinstance(d.get("confidence"), (int, float))]
    res["min_confidence"] = min(confs) if confs else None
    by_level = {}
    for d in discs:
        by_level.setdefault(d.get("level"), []).append(d)
    for level in LEVELS:
        ds = by_level.get(level, [])
        if not ds:
            res["levels"][level] = {"status": "missing"}
            continue
        d = ds[0]
        conf = d.get("confidence")
        ok = len(ds) == 1 and disc_correct(gt, level, d["center_mm"])
        entry = {"status": "correct" if ok else "wrong", "center_mm": d["center_mm"],
                 "confidence": conf}
        if len(ds) > 1:
            entry["duplicate"] = len(ds)
        if not ok:
            z_low, z_high, y_ref = level_window(gt, level)
            entry["expected_z_mm"] = [round(z_low, 1), round(z_high, 1)]
            entry["expected_y_mm"] = round(y_ref, 1)
            low_conf = isinstance(conf, (int, float)) and conf < LOW_CONFIDENCE
            entry["silent"] = not res["warnings"] and not low_conf
        res["levels"][level] = entry
    unknown = [lv for lv in by_level if lv not in LEVELS]
    if unknown:
        res["unknown_levels"] = unknown
    res["all_correct"] = all(res["levels"][lv]["status"] == "correct" for lv in LEVELS)
    res["silent_mislabels"] = [lv for lv in LEVELS if res["levels"][lv].get("silent")]
    return res


def summarize(results):
    n = len(results)
    per_level = {}
    for lv in LEVELS:
        c = sum(1 for r in results if r["levels"][lv]["status"] == "correct")
        w = sum(1 for r in results if r["levels"][lv]["status"] == "wrong")
        m = sum(1 for r in results if r["levels"][lv]["status"] == "missing")
        per_level[lv] = {"correct": c, "wrong": w, "missing": m,
                         "accuracy_pct": round(100.0 * c / n, 1) if n else 0.0}
    full = sum(1 for r in results if r["all_correct"])
    silent = [(r["volume"], lv) for r in results for lv in r["silent_mislabels"]]
    return {
        "volumes": n,
        "reports_found": sum(1 for r in results if r["report"]),
        "all_five_correct": full,
        "all_five_correct_pct": round(100.0 * full / n, 1) if n else 0.0,
        "per_level": per_level,
        "wrong_discs": sum(per_level[lv]["wrong"] for lv in LEVELS),
        "missing_discs": sum(per_level[lv]["missing"] for lv in LEVELS),
        "silent_mislabels": len(silent),
        "silent_mislabel_list": [f"{v} {lv}" for v, lv in silent],
        "failed_volumes": [r["volume"] for r in results if not r["all_correct"]],
        "volumes_with_warnings": sum(1 for r in results if r["warnings"]),
    }


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def evaluate_dirs(vb3_dir, results_dir):
    results = []
    names = sorted(d for d in os.listdir(vb3_dir)
                   if os.path.isfile(os.path.join(vb3_dir, d, "gt.json")))
    for name in names:
        gt = load_json(os.path.join(vb3_dir, name, "gt.json"))
        report_path = os.path.join(results_dir, name, "report.json")
        report = load_json(report_path)
        r = evaluate_volume(name, gt, report)
        if report is None:
            r["error"] = "no readable report.json" if os.path.exists(report_path) else "no report.json"
        results.append(r)
    return results


def short(level):
    return level.replace("L", "").replace("-", "")  # "L1-L2" -> "12", "L5-S1" -> "5S1"


def print_table(results, summary):
    print(f"{'vol':>4} {'discs':>5} {'n_lum':>5}  {'L1-2':<7}{'L2-3':<7}{'L3-4':<7}{'L4-5':<7}{'L5-S1':<7}"
          f"{'minconf':>7}  warnings / notes")
    sym = {"correct": "ok", "wrong": "WRONG", "missing": "-"}
    for r in results:
        cells = ""
        for lv in LEVELS:
            e = r["levels"][lv]
            s = sym[e["status"]]
            if e.get("silent"):
                s += "!"
            cells += f"{s:<7}"
        mc = "" if r["min_confidence"] is None else f"{r['min_confidence']:.2f}"
        notes = list(r["warnings"])
        if r.get("error"):
            notes.insert(0, "[" + r["error"] + "]")
        for lv in LEVELS:
            e = r["levels"][lv]
            if e["status"] == "wrong":
                c = e["center_mm"]
                notes.append(f"{lv} z={float(c[2]):.1f} y={float(c[1]):.1f} want z in {e['expected_z_mm']}"
                             f" y~{e['expected_y_mm']}")
        lc = "" if r["lumbar_count"] is None else str(r["lumbar_count"])
        print(f"{r['volume']:>4} {r['n_discs']:>5} {lc:>5}  {cells}{mc:>7}  {'; '.join(notes)}")
    s = summary
    print()
    print("(ok = correct, WRONG = present but wrong, - = missing, ! = silent mislabel)")
    print(f"volumes: {s['volumes']}  reports found: {s['reports_found']}")
    print(f"all five levels correct: {s['all_five_correct']}/{s['volumes']} = {s['all_five_correct_pct']}%"
          f"  (target >= 90%)")
    print("per-level accuracy: " + ", ".join(
        f"{lv} {s['per_level'][lv]['accuracy_pct']}%" for lv in LEVELS))
    print(f"wrong discs: {s['wrong_discs']}  missing discs: {s['missing_discs']}"
          f"  volumes with warnings: {s['volumes_with_warnings']}")
    print(f"mislabels without a warning or low confidence (<{LOW_CONFIDENCE}): {s['silent_mislabels']}"
          + (f"  ({', '.join(s['silent_mislabel_list'])})" if s["silent_mislabel_list"] else "")
          + "  (target 0)")
    if s["failed_volumes"]:
        print("volumes not fully correct: " + " ".join(s["failed_volumes"]))


def self_test(vb3=None):
    """Build fake reports from synthetic GT and check the scoring."""
    gt = {"labels": {}}
    # lordotic-ish column: centroids every 35 mm down, y drifting
    for i, name in enumerate(["L1", "L2", "L3", "L4", "L5"]):
        gt["labels"][name] = {"centroid_mm": [0.5, 10.0 - 3.0 * i, 70.0 - 35.0 * i]}
    c = {k: v["centroid_mm"] for k, v in gt["labels"].items()}

    def mid(a, b):
        return [(a[j] + b[j]) / 2.0 for j in range(3)]

    discs = [{"level": f"L{k}-L{k + 1}", "center_mm": mid(c[f"L{k}"], c[f"L{k + 1}"]), "confidence": 0.9}
             for k in range(1, 5)]
    discs.append({"level": "L5-S1", "center_mm": [c["L5"][0], c["L5"][1] + 2.0, c["L5"][2] - 17.0],
                  "confidence": 0.9})
    report = {"series": [{"status": "measured", "discs": discs, "labeling_warnings": [],
                          "lumbar_count": 5,
                          "vertebrae": [{"name": n, "center_mm": c[n]} for n in c]}]}
    results = [evaluate_volume(f"{i:02d}", gt, report) for i in range(1, 4)]
    s = summarize(results)
    assert s["all_five_correct_pct"] == 100.0, s
    assert all(s["per_level"][lv]["accuracy_pct"] == 100.0 for lv in LEVELS), s
    assert s["silent_mislabels"] == 0, s

    # shifted labels (every name one level too high) -> all wrong, silent
    shifted = json.loads(json.dumps(report))
    for d, lv in zip(shifted["series"][0]["discs"], ["L2-L3", "L3-L4", "L4-L5", "L5-S1", "L1-L2"]):
        d["level"] = lv
    r = evaluate_volume("x", gt, shifted)
    assert not r["all_correct"] and len(r["silent_mislabels"]) == 5, r
    # same with a warning -> not silent
    shifted["series"][0]["labeling_warnings"] = ["sacrum not in field of view"]
    r = evaluate_volume("x", gt, shifted)
    assert not r["all_correct"] and r["silent_mislabels"] == [], r
    # low confidence -> not silent
    low = json.loads(json.dumps(report))
    low["series"][0]["discs"][4]["center_mm"][2] = c["L5"][2] - 40.0
    low["series"][0]["discs"][4]["confidence"] = 0.3
    r = evaluate_volume("x", gt, low)
    assert r["levels"]["L5-S1"]["status"] == "wrong" and r["silent_mislabels"] == [], r
    # y far off -> wrong
    off = json.loads(json.dumps(report))
    off["series"][0]["discs"][1]["center_mm"][1] += 30.0
    r = evaluate_volume("x", gt, off)
    assert r["levels"]["L2-L3"]["status"] == "wrong", r
    # missing report -> all missing
    r = evaluate_volume("x", gt, None)
    assert all(r["levels"][lv]["status"] == "missing" for lv in LEVELS) and not r["all_correct"]
    # real GT files, if given (argument or FORAMEN_VB3_OUT): midpoint reports must score 100%
    vb3 = vb3 or os.environ.get("FORAMEN_VB3_OUT")
    if vb3 and os.path.isdir(vb3):
        res = []
        for name in sorted(os.listdir(vb3)):
            g = load_json(os.path.join(vb3, name, "gt.json"))
            if g is None:
                continue
            cc = {k: v["centroid_mm"] for k, v in g["labels"].items()}
            ds = [{"level": f"L{k}-L{k + 1}", "center_mm": mid(cc[f"L{k}"], cc[f"L{k + 1}"]),
                   "confidence": 1.0} for k in range(1, 5)]
            l5 = g["labels"]["L5"]
            ds.append({"level": "L5-S1", "center_mm": [cc["L5"][0], cc["L5"][1],
                                                       l5["z_inferior_mm"] - 2.0], "confidence": 1.0})
            res.append(evaluate_volume(name, g, {"series": [{"discs": ds}]}))
        s = summarize(res)
        assert s["all_five_correct_pct"] == 100.0, s
        print(f"self-test on {len(res)} real GT files: 100% ok")
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
    if len(args) != 2 or "--help" in flags or flags - {"--json"}:
        print(__doc__)
        return 2
    results = evaluate_dirs(args[0], args[1])
    summary = summarize(results)
    if "--json" in flags:
        print(json.dumps({"summary": summary, "volumes": results}, indent=1))
    else:
        print_table(results, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
