#!/usr/bin/env python3
"""Foramen plausibility on the VB3 volumes (issue 5): for every volume's report.json,
count the lumbar foramina measured and those with areas in the plausible 20-250 mm²
range, and list the others with their reasons. Standard library only.

Usage: tools/eval_vb3_foramina.py RESULTS_DIR   (RESULTS_DIR/NN/report.json, from
tools/eval-vb3.sh or `foramen measure` per volume)
"""
import json
import sys
from pathlib import Path


def main() -> int:
    root = Path(sys.argv[1])
    total = measured = plausible = volumes_all = 0
    problems = []
    areas = []
    for rep in sorted(root.glob("*/report.json")):
        r = json.loads(rep.read_text())
        s = next((s for s in r["series"] if s["status"] == "measured"), None)
        name = rep.parent.name
        if s is None:
            problems.append(f"{name}: no measured series")
            total += 10
            continue
        ok_here = 0
        for lv in s["levels"]:
            total += 1
            a = lv["min_area_mm2"]
            if a is None:
                problems.append(f"{name} {lv['level']} {lv['side']}: not measured ({lv['reason']})")
                continue
            measured += 1
            areas.append(a)
            if 20.0 <= a <= 250.0:
                plausible += 1
                ok_here += 1
            else:
                problems.append(f"{name} {lv['level']} {lv['side']}: area {a} mm² out of 20-250")
        volumes_all += ok_here == 10
    areas.sort()
    for p in problems:
        print(p)
    print()
    print(f"foramina: {total}, measured {measured} ({100 * measured / max(total, 1):.1f}%), "
          f"area in 20-250 mm²: {plausible} ({100 * plausible / max(total, 1):.1f}%)")
    print(f"volumes with all ten foramina measured and plausible: {volumes_all}")
    if areas:
        print(f"areas: median {areas[len(areas) // 2]:.1f} mm², p10 {areas[len(areas) // 10]:.1f}, "
              f"p90 {areas[9 * len(areas) // 10]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
