#!/usr/bin/env python3
"""Reading tool for the real-scan neural-foramen reference (issue 18, docs/reference-protocol.md).

Interpreter: /root/.cache/foramen-test-data/venv/bin/python (needs numpy, scipy, pillow;
no nibabel: the SCT NIfTI header is parsed here). Images go to /tmp (or -o PATH), never
into the repository: the pixels are not ours to commit.

What a reader types (P=/root/.cache/foramen-test-data/venv/bin/python; T=tools/foramen_read.py):
  $P $T template VB3 01 > fixtures/reference/foramina/VB3-01.json   # skeleton, 10 empty foramina
  $P $T planes VB3 01 --side left            # -> /tmp/fr_planes_VB3-01_left.png (all levels x |x| 8..26)
  $P $T show VB3 01 --side left --plane 14,16,18     # same planes for every level
  $P $T show VB3 01 --side left --plane L1-L2=16,18 --plane L5-S1=18,20   # per level
  $P $T area fixtures/reference/foramina/VB3-01.json # validates, writes area/height/width
  $P $T show VB3 01 --side left --reading fixtures/reference/foramina/VB3-01.json
        # with --reading and no --plane: each level's read plane(s) with the outline drawn
  $P $T overview VB3 01                      # whole-FOV canal plane + one plane per side, 10 mm grid
SCT (SET = SCT, volume t2_lumbar, no labels): read the level centres off `overview`, then
  $P $T planes SCT t2_lumbar --side left --at T12-L1=y,z --at L1-L2=y,z ...
  (--canal X sets the canal's LPS x; the SCT default -13.0 was set by eye; the slab spans x -24.8..12.2,
  so only the left side is in view, left foramina at x ~ +3..+9, i.e. |x - canal| ~ 16..22.)
`--plane` values are |x| offsets from the canal, in mm, on the chosen side (planes and show
print the absolute LPS x of each; the reading file stores the absolute `plane_x_mm`).
Display: anterior (small y) left, superior (large z) up; axis labels are LPS y and z in mm.
"""
import argparse
import gzip
import json
import os
import re
import struct
import sys
import tempfile

import numpy as np
import scipy.io
import scipy.ndimage
from PIL import Image, ImageDraw, ImageFont

MAT_ROOT = "/work/data/real/mat"
GT_ROOT = "/work/data/real/dicom"
SCT_PATH = "/work/data/real/sct/t2_lumbar.nii.gz"
SCHEMA = "foramen.reference/1"
LEVELS_VB = ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
FONT = ImageFont.load_default()


# ---------------------------------------------------------------- volumes
class Volume:
    """Array plus the affine index(a, b, c) -> LPS (x, y, z) mm."""

    def __init__(self, data, affine, canal_x, levels, name):
        self.data = data.astype(np.float32)
        self.affine = affine
        self.inv = np.linalg.inv(affine)
        self.canal_x = canal_x
        self.levels = levels  # name -> dict(y=, z=) crop centre guess (LPS mm)
        self.name = name
        # one display window per volume, so tiles compare (percentiles of the central block)
        sl = tuple(slice(n // 6, n - n // 6) for n in self.data.shape)
        self.window = tuple(np.percentile(self.data[sl], [0.5, 99.7]))

    def plane(self, x, y0, y1, z0, z1, ppm):
        """Resampled plane at LPS x; rows from z1 (top) down to z0, cols from y0 to y1."""
        nu, nv = int(round((y1 - y0) * ppm)), int(round((z1 - z0) * ppm))
        ys = y0 + (np.arange(nu) + 0.5) / ppm
        zs = z1 - (np.arange(nv) + 0.5) / ppm
        Y, Z = np.meshgrid(ys, zs)
        pts = np.stack([np.full(Y.size, x), Y.ravel(), Z.ravel(), np.ones(Y.size)])
        idx = self.inv @ pts
        out = scipy.ndimage.map_coordinates(self.data, idx[:3], order=1, cval=0.0)
        return out.reshape(nv, nu)


def level_guesses_gt(gt):
    lab = gt["labels"]
    names = [n for n in ["T11", "T12", "L1", "L2", "L3", "L4", "L5"] if n in lab]
    out = {}
    for a, b in zip(names, names[1:]):
        ca, cb = np.array(lab[a]["centroid_mm"]), np.array(lab[b]["centroid_mm"])
        disc = (ca + cb) / 2
        ypost = (lab[a]["y_posterior_mm"] + lab[b]["y_posterior_mm"]) / 2
        out[f"{a}-{b}"] = dict(y=ypost - 1.0, z=disc[2] + 5.0)
    if "L4" in lab and "L5" in lab:
        c4, c5 = np.array(lab["L4"]["centroid_mm"]), np.array(lab["L5"]["centroid_mm"])
        disc = c5 + 0.55 * (c5 - c4)
        out["L5-S1"] = dict(y=lab["L5"]["y_posterior_mm"] - 3.0, z=disc[2] + 5.0)
    return out


def load_volume(set_name, vol, canal=None):
    if set_name.upper() == "SCT":
        raw = gzip.open(SCT_PATH).read()
        dim = struct.unpack("<8h", raw[40:56])
        off = int(struct.unpack("<f", raw[108:112])[0])
        srow = np.array(struct.unpack("<12f", raw[280:328]), dtype=float).reshape(3, 4)
        n = dim[1] * dim[2] * dim[3]
        data = np.frombuffer(raw[off:off + 2 * n], "<i2").reshape(dim[3], dim[2], dim[1]).T
        aff = np.eye(4)
        aff[:3] = srow
        aff[0] *= -1  # RAS -> LPS
        aff[1] *= -1
        if canal is None:
            canal = -13.0  # by eye on `overview`: the CSF column is widest here (slab centre is -6.3)
        return Volume(data, aff, canal, {}, "SCT-t2_lumbar")
    I = scipy.io.loadmat(f"{MAT_ROOT}/{set_name}/{vol}.mat")["I"]
    gt = json.load(open(f"{GT_ROOT}/{set_name}/{vol}/gt.json"))
    g = gt["geometry"]
    # index order (row, col, slice) -> (x, y, z)
    aff = np.array([[0, 0, -1, g["x0"]], [0, 1, 0, g["y0"]], [-1, 0, 0, g["z0"]], [0, 0, 0, 1.0]])
    return Volume(I, aff, gt["canal_x_mm"] if canal is None else canal, level_guesses_gt(gt),
                  f"{set_name}-{vol}")


# ---------------------------------------------------------------- drawing
def to_u8(a, lo=None, hi=None):
    if lo is None:
        lo, hi = np.percentile(a, [1, 99.5])
    return np.clip((a - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)


def crop_img(V, x, c, half, ppm, grid=True, fine=True, window=None):
    """RGB crop of +-half mm around centre c (y, z), with its mm grid; returns (img, box)."""
    y0, y1, z0, z1 = c["y"] - half, c["y"] + half, c["z"] - half, c["z"] + half
    a = V.plane(x, y0, y1, z0, z1, ppm)
    g = to_u8(a, *(window or V.window))
    img = Image.fromarray(g).convert("RGB")
    if grid:
        ov = Image.new("RGBA", img.size, (0, 0, 0, 0))
        d = ImageDraw.Draw(ov)
        step = 1 if (fine and ppm >= 7) else 5
        for vals, horiz in ((range(int(np.ceil(y0)), int(np.floor(y1)) + 1), False),
                            (range(int(np.ceil(z0)), int(np.floor(z1)) + 1), True)):
            for t in vals:
                if t % step:
                    continue
                col = (0, 255, 255, 140 if t % 10 == 0 else 80 if t % 5 == 0 else 22)
                if horiz:
                    v = (z1 - t) * ppm
                    d.line([(0, v), (img.size[0], v)], fill=col)
                else:
                    u = (t - y0) * ppm
                    d.line([(u, 0), (u, img.size[1])], fill=col)
        img = Image.alpha_composite(img.convert("RGBA"), ov).convert("RGB")
    return img, (y0, y1, z0, z1)


def draw_poly(img, box, ppm, verts, color=(255, 60, 60), label=True):
    y0, y1, z0, z1 = box
    pts = [((y - y0) * ppm, (z1 - z) * ppm) for y, z in verts]
    d = ImageDraw.Draw(img)
    d.line(pts + [pts[0]], fill=color, width=2)
    for i, (u, v) in enumerate(pts):
        d.ellipse([u - 3, v - 3, u + 3, v + 3], outline=(255, 255, 0), width=1)
        if label:
            d.text((u + 4, v - 10), str(i), fill=(255, 255, 0), font=FONT)


def axis_frame(img, box, ppm, title):
    """Pad the crop with y labels below, z labels left and a title above."""
    y0, y1, z0, z1 = box
    L, B, T = 34, 14, 14
    out = Image.new("RGB", (img.size[0] + L + 4, img.size[1] + B + T), (0, 0, 0))
    out.paste(img, (L, T))
    d = ImageDraw.Draw(out)
    d.text((L, 1), title, fill=(255, 255, 255), font=FONT)
    st = 5 if ppm >= 4 else 20  # labels must not overlap
    for Y in range(int(np.ceil(y0 / st) * st), int(y1) + 1, st):
        u = L + (Y - y0) * ppm
        d.text((u - 8, T + img.size[1] + 1), f"{Y}", fill=(200, 255, 255), font=FONT)
    for Z in range(int(np.ceil(z0 / st) * st), int(z1) + 1, st):
        v = T + (z1 - Z) * ppm
        d.text((1, v - 5), f"{Z:>4}", fill=(200, 255, 255), font=FONT)
    return out


def grid_montage(tiles, ncol, bg=(0, 0, 0)):
    w = max(t.size[0] for t in tiles)
    h = max(t.size[1] for t in tiles)
    nrow = (len(tiles) + ncol - 1) // ncol
    M = Image.new("RGB", (w * ncol, h * nrow), bg)
    for i, t in enumerate(tiles):
        if t is not None:
            M.paste(t, ((i % ncol) * w, (i // ncol) * h))
    return M


# ---------------------------------------------------------------- helpers
def side_sign(side):
    return {"left": 1.0, "right": -1.0}[side]


def parse_at(V, ats):
    for a in ats or []:
        name, yz = a.split("=")
        y, z = (float(t) for t in yz.split(","))
        V.levels[name] = dict(y=y, z=z)


def chosen_levels(V, level_arg):
    names = list(V.levels)
    if level_arg:
        want = level_arg.split(",")
        bad = [w for w in want if w not in V.levels]
        if bad:
            sys.exit(f"unknown level(s) {bad}; known: {names} (SCT: give --at NAME=y,z)")
        return want
    if not V.name.startswith("SCT"):
        return [n for n in LEVELS_VB if n in V.levels]
    return names


def load_reading(path):
    return json.load(open(path)) if path else None


def reading_entries(R, level, side):
    if not R:
        return []
    return [f for f in R["foramina"] if f["level"] == level and f["side"] == side]


# ---------------------------------------------------------------- subcommands
def cmd_overview(a):
    V = load_volume(a.set, a.vol, a.canal)
    ppm = 2.5
    tiles = []
    # Field of view in LPS from the array corners.
    corners = np.array([[i, j, k, 1] for i in (0, V.data.shape[0] - 1)
                        for j in (0, V.data.shape[1] - 1) for k in (0, V.data.shape[2] - 1)]).T
    P = V.affine @ corners
    ylo, yhi, zlo, zhi = P[1].min(), P[1].max(), P[2].min(), P[2].max()
    c = dict(y=(ylo + yhi) / 2, z=(zlo + zhi) / 2)
    half = max(yhi - ylo, zhi - zlo) / 2
    for off, lab in [(0, "canal"), (a.offset, "left"), (-a.offset, "right")]:
        x = V.canal_x + off
        img, box = crop_img(V, x, c, half, ppm, fine=False)
        d = ImageDraw.Draw(img)
        for n, g in V.levels.items():
            u, v = (g["y"] - box[0]) * ppm, (box[3] - g["z"]) * ppm
            d.ellipse([u - 3, v - 3, u + 3, v + 3], outline=(255, 0, 0))
            d.text((u + 5, v - 5), n, fill=(255, 80, 80), font=FONT)
        tiles.append(axis_frame(img, box, ppm, f"{V.name} {lab} x={x:.1f} (canal {V.canal_x:.1f})"))
    out = a.out or f"/tmp/fr_overview_{V.name}.png"
    grid_montage(tiles, 3).save(out)
    print(out, "| grid 5/10 mm; red = level crop centres; canal x", round(V.canal_x, 2))


def cmd_planes(a):
    V = load_volume(a.set, a.vol, a.canal)
    parse_at(V, a.at)
    levels = chosen_levels(V, a.level)
    offs = [float(t) for t in a.offsets.split(",")] if a.offsets else list(range(8, 27, 2))
    s = side_sign(a.side)
    ppm, half = a.ppm, a.half
    tiles = []
    for n in levels:
        c = V.levels[n]
        for o in offs:
            x = V.canal_x + s * o
            img, box = crop_img(V, x, c, half, ppm, fine=False)
            tiles.append(axis_frame(img, box, ppm, f"{n} |{o:g}| x={x:.1f}"))
    out = a.out or f"/tmp/fr_planes_{V.name}_{a.side}.png"
    grid_montage(tiles, len(offs)).save(out)
    print(out, f"| rows {levels} | cols |x| {offs} | canal x {V.canal_x:.2f} | grid 5 mm")


def cmd_show(a):
    V = load_volume(a.set, a.vol, a.canal)
    parse_at(V, a.at)
    R = load_reading(a.reading)
    levels = chosen_levels(V, a.level)
    s = side_sign(a.side)
    common, per = [], {}
    for p in a.plane or []:
        if "=" in p:
            n, v = p.split("=")
            per[n] = [float(t) for t in v.split(",")]
        else:
            common += [float(t) for t in p.split(",")]
    ppm, half = a.ppm, a.half
    rows, ncol = [], 1
    for n in levels:
        ents = reading_entries(R, n, a.side)
        polys = []  # (plane_x, verts, tag)
        for e in ents:
            if e.get("vertices_mm"):
                polys.append((e["plane_x_mm"], e["vertices_mm"], "read"))
            for o in e.get("other_planes") or []:
                if o.get("vertices_mm"):
                    polys.append((o["plane_x_mm"], o["vertices_mm"], "other"))
        if n in per:
            xs = [V.canal_x + s * o for o in per[n]]
        elif common:
            xs = [V.canal_x + s * o for o in common]
        else:
            xs = sorted({round(p[0], 3) for p in polys}, key=lambda x: abs(x - V.canal_x))
        if not xs:
            continue
        c = dict(V.levels[n])
        allv = [v for p in polys for v in p[1]]
        if allv and not a.keep_centre:
            c = dict(y=float(np.mean([v[0] for v in allv])), z=float(np.mean([v[1] for v in allv])))
        row = []
        for x in xs:
            img, box = crop_img(V, x, c, half, ppm)
            if not a.clean:
                for px, verts, tag in polys:
                    if abs(px - x) < 0.25:
                        draw_poly(img, box, ppm, verts,
                                  (255, 60, 60) if tag == "read" else (255, 150, 0))
            title = f"{V.name} {n} {a.side} |x-canal|={abs(x - V.canal_x):.1f} x={x:.1f}"
            for e in ents:
                if abs(e.get("plane_x_mm", 1e9) - x) < 0.25 and e.get("area_mm2"):
                    title += f" A={e['area_mm2']:.0f}"
            row.append(axis_frame(img, box, ppm, title))
        ncol = max(ncol, len(row))
        rows.append(row)
    tiles = []
    for r in rows:
        tiles += r + [None] * (ncol - len(r))
    if not tiles:
        sys.exit("nothing to show: give --plane, or --reading with outlines for these levels")
    out = a.out or f"/tmp/fr_show_{V.name}_{a.side}.png"
    grid_montage(tiles, ncol).save(out)
    print(out, f"| {ppm:g} px/mm | grid 1 mm faint, 5 mm, 10 mm strong | canal x {V.canal_x:.2f}")


def cmd_template(a):
    levels = LEVELS_VB if a.set != "SCT" else a.levels.split(",")
    sides = ["left", "right"] if a.set != "SCT" else ["left"]
    R = {"schema": SCHEMA, "set": a.set, "volume": a.vol,
         "frame": "LPS mm, tools/real_to_dicom.py mapping", "reader": a.reader, "reading": a.reading,
         "protocol": "docs/reference-protocol.md", "date": a.date,
         "foramina": [{"level": n, "side": s, "plane_x_mm": None, "vertices_mm": None,
                       "area_mm2": None, "height_mm": None, "width_mm": None,
                       "quality": "poor", "notes": ""} for s in sides for n in levels]}
    sys.stdout.write(dumps(R))


# ---------------------------------------------------------------- area / validation
def shoelace(v):
    v = np.asarray(v, float)
    y, z = v[:, 0], v[:, 1]
    return 0.5 * abs(np.dot(y, np.roll(z, -1)) - np.dot(z, np.roll(y, -1)))


def self_crossing(v):
    n = len(v)

    def ccw(a, b, c):
        return (c[1] - a[1]) * (b[0] - a[0]) - (b[1] - a[1]) * (c[0] - a[0])

    for i in range(n):
        a, b = v[i], v[(i + 1) % n]
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue
            c, d = v[j], v[(j + 1) % n]
            if ccw(a, b, c) * ccw(a, b, d) < 0 and ccw(c, d, a) * ccw(c, d, b) < 0:
                return (i, j)
    return None


def check_poly(v, where, errs, warns):
    if not isinstance(v, list) or len(v) < 3 or any(len(p) != 2 for p in v):
        errs.append(f"{where}: vertices_mm must be a list of >= 3 [y, z] pairs")
        return False
    if not 8 <= len(v) <= 20:
        warns.append(f"{where}: {len(v)} vertices (protocol: 8-20)")
    sc = self_crossing(v)
    if sc:
        errs.append(f"{where}: edges {sc[0]} and {sc[1]} cross")
        return False
    return True


def dumps(R):
    """JSON with one foramen per block and each vertex list on one line."""
    txt = json.dumps(R, indent=1)
    # collapse innermost numeric lists ([y, z] pairs) and then the vertex lists
    txt = re.sub(r"\[\s*(-?[\d.eE+-]+),\s*(-?[\d.eE+-]+)\s*\]", r"[\1, \2]", txt)
    txt = re.sub(r"\[\s*((?:\[[^\[\]]*\],?\s*)+)\]",
                 lambda m: "[" + ", ".join(re.findall(r"\[[^\[\]]*\]", m.group(1))) + "]", txt)
    return txt + "\n"


def cmd_area(a):
    R = json.load(open(a.file))
    errs, warns = [], []
    for k in ["schema", "set", "volume", "frame", "reader", "reading", "protocol", "date", "foramina"]:
        if k not in R:
            errs.append(f"missing top-level key {k}")
    if R.get("schema") != SCHEMA:
        errs.append(f"schema must be {SCHEMA}")
    canal = None
    if R.get("set") in ("VB3", "VB2"):
        canal = json.load(open(f"{GT_ROOT}/{R['set']}/{R['volume']}/gt.json"))["canal_x_mm"]
    seen = set()
    for i, f in enumerate(R.get("foramina", [])):
        w = f"foramina[{i}] {f.get('level')} {f.get('side')}"
        if f.get("side") not in ("left", "right"):
            errs.append(f"{w}: side must be left/right")
        if not re.fullmatch(r"(T1[0-2]|T[1-9]|L[1-5])-(T1[0-2]|T[1-9]|L[1-5]|S1)", str(f.get("level"))):
            errs.append(f"{w}: bad level name")
        if (f.get("level"), f.get("side")) in seen:
            errs.append(f"{w}: duplicate entry")
        seen.add((f.get("level"), f.get("side")))
        if f.get("quality") not in ("clear", "fair", "poor"):
            errs.append(f"{w}: quality must be clear|fair|poor")
        v = f.get("vertices_mm")
        if v is None:
            f["area_mm2"] = f["height_mm"] = f["width_mm"] = None
            if not f.get("notes"):
                errs.append(f"{w}: unread (vertices_mm null) needs a note why")
            continue
        if not isinstance(f.get("plane_x_mm"), (int, float)):
            errs.append(f"{w}: plane_x_mm missing")
            continue
        if canal is not None and np.sign(f["plane_x_mm"] - canal) != side_sign(f["side"]):
            errs.append(f"{w}: plane_x_mm {f['plane_x_mm']} is not on the {f['side']} of the "
                        f"canal (x {canal}; left = +x)")
        if not check_poly(v, w, errs, warns):
            continue
        planes = [(f["plane_x_mm"], v)]
        for j, o in enumerate(f.get("other_planes") or []):
            if check_poly(o.get("vertices_mm"), f"{w} other_planes[{j}]", errs, warns):
                o["area_mm2"] = round(shoelace(o["vertices_mm"]), 1)
                planes.append((o["plane_x_mm"], o["vertices_mm"]))
        areas = [shoelace(p[1]) for p in planes]
        k = int(np.argmin(areas))
        if k != 0:
            warns.append(f"{w}: plane x={planes[k][0]} has a smaller area ({areas[k]:.1f}) than the "
                         f"main plane ({areas[0]:.1f}); protocol: the main plane is the minimum")
        vv = np.asarray(planes[k][1], float)
        f["area_mm2"] = round(float(areas[k]), 1)
        f["height_mm"] = round(float(vv[:, 1].max() - vv[:, 1].min()), 1)
        f["width_mm"] = round(float(vv[:, 0].max() - vv[:, 0].min()), 1)
    for m in warns:
        print("warning:", m)
    for m in errs:
        print("ERROR:", m)
    if errs:
        sys.exit(1)
    d = os.path.dirname(os.path.abspath(a.file))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp_", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        fh.write(dumps(R))
    os.replace(tmp, a.file)
    for f in R["foramina"]:
        print(f"{f['level']:6} {f['side']:5} x={f.get('plane_x_mm')} A={f['area_mm2']} "
              f"h={f['height_mm']} w={f['width_mm']} {f['quality']}")


# ---------------------------------------------------------------- main
def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = p.add_subparsers(dest="cmd", required=True)

    def vol_args(q):
        q.add_argument("set", help="VB3, VB2 or SCT")
        q.add_argument("vol", help="NN (e.g. 01) or t2_lumbar")
        q.add_argument("--canal", type=float, help="override the canal's LPS x (mm)")
        q.add_argument("--at", action="append", help="NAME=y,z level crop centre (LPS mm); SCT needs it")
        q.add_argument("-o", "--out", help="output PNG (default under /tmp)")

    q = sp.add_parser("overview")
    vol_args(q)
    q.add_argument("--offset", type=float, default=15.0)
    q.set_defaults(fn=cmd_overview)

    q = sp.add_parser("planes")
    vol_args(q)
    q.add_argument("--side", required=True, choices=["left", "right"])
    q.add_argument("--level", help="comma list, default all")
    q.add_argument("--offsets", help="comma list of |x - canal| mm (default 8,10,..,26)")
    q.add_argument("--ppm", type=float, default=3.5)
    q.add_argument("--half", type=float, default=22.0)
    q.set_defaults(fn=cmd_planes)

    q = sp.add_parser("show")
    vol_args(q)
    q.add_argument("--side", required=True, choices=["left", "right"])
    q.add_argument("--level", help="comma list, default all")
    q.add_argument("--plane", action="append", help="|x| offsets: '14,16' or 'L4-L5=14,16'")
    q.add_argument("--reading", help="reading JSON: draw its outlines")
    q.add_argument("--clean", action="store_true", help="do not draw outlines")
    q.add_argument("--keep-centre", action="store_true", help="crop at the level guess, not the outline")
    q.add_argument("--ppm", type=float, default=8.0)
    q.add_argument("--half", type=float, default=16.0)
    q.set_defaults(fn=cmd_show)

    q = sp.add_parser("template")
    q.add_argument("set")
    q.add_argument("vol")
    q.add_argument("--reader", default="reader")
    q.add_argument("--reading", type=int, default=1)
    q.add_argument("--date", default="2026-12-05")
    q.add_argument("--levels", default="T12-L1,L1-L2,L2-L3", help="SCT only")
    q.set_defaults(fn=cmd_template)

    q = sp.add_parser("area")
    q.add_argument("file")
    q.set_defaults(fn=cmd_area)

    a = p.parse_args(argv)
    a.fn(a)


if __name__ == "__main__":
    main(sys.argv[1:])
