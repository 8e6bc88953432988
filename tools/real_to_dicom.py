#!/usr/bin/env python3
"""Write the fastcleverseg VB3 / VB2 volumes as sagittal MR DICOM series in several
acquisitions, with their vertebral-body ground truth (used by tools/eval-real.sh).

Usage (needs numpy, scipy, pydicom: the venv of tools/fetch-test-data.sh + `pip install scipy`):
    python tools/real_to_dicom.py SET MAT_DIR OUT_DIR [--workers N] [--acq A,B,...]

SET is VB3 or VB2; MAT_DIR holds NN.mat from `ImageDatasets/VBs/<SET>/Isotropic/Matlab/`
of github.com/JonathanRamos/fastcleverseg. The data's licence is unverified: keep MAT_DIR
and OUT_DIR OUTSIDE the repository and never commit anything derived from them.

Source: `I` uint8 I[row, col, slice], 1 mm isotropic, rows superior->inferior, columns
anterior->posterior, slices across left/right. `GT` vertebral-body labels: VB3 1..5 =
L1..L5; VB2 seven labels in no fixed order, named T11..L5 by their centroid row
(superior->inferior). GT may have one slice more than I (empty): both are aligned from
slice 0 and GT is cut to I.

Patient frame (LPS mm), shared by every acquisition of a volume so one gt.json serves all:
voxel (r, c, k) is at (x0 - k, y0 + c, z0 - r), x0 = (n_slices-1)/2, y0 = -(n_cols-1)/2,
z0 = (n_rows-1)/2 (the mapping of tools/vb3_to_dicom.py; which source side is the
patient's left is not known, it only swaps foramen names).

Acquisitions (OUT_DIR/SET/<acq>/NN/series/*.dcm, plus acq.json with the geometry used):
  1mm         every source slice, 1 mm, IM0001.dcm.. in order (as tools/vb3_to_dicom.py)
  3mm, 4mm    "clinical" 2D sagittal slabs: each slice is the overlap-weighted mean of the
              1 mm slices it covers (thickness T = 3 or 4 mm), spacing T(1+g) with a gap
              g in {0, 0.1, 0.2}, 12-20 slices so the stack covers ~48-80 mm centred
              (± half a spacing) on the lumbar bodies' mean x (the spinal canal's plane);
              files named at random and written in random order, InstanceNumber running
              left->right or right->left. Values x16 in 12 bits.
  3mm-coarse, 4mm-coarse
              the same slabs resampled in-plane (cubic spline) to square pixels of
              0.7-1.0 mm over the same field of view.
All random choices come from RNGs seeded by (set, volume, acquisition): re-runs write
identical files. OUT_DIR/SET/NN/gt.json: per body its label, voxel count, centroid (LPS
mm), extents; plus canal_x_mm.
"""
import hashlib
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pydicom  # noqa: F401  (checked early: the writer below needs it)
import scipy.io
import scipy.ndimage
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ACQUISITIONS = ["1mm", "3mm", "4mm", "3mm-coarse", "4mm-coarse"]
# Bumped when the output changes, so tools/eval-real.sh reconverts.
CONVERTER_VERSION = "3"

# Header per set: what the source says it is (VB3 is called T1 FFE but looks T2-like).
SET_INFO = {
    "VB3": dict(names=["L1", "L2", "L3", "L4", "L5"], description="SAG T1 FFE",
                sequence="GR", variant="SP", tr=6.0, te=2.5, field=3.0, flip=10, etl=1,
                source="fastcleverseg VB3"),
    "VB2": dict(names=["T11", "T12", "L1", "L2", "L3", "L4", "L5"], description="SAG T2 TSE",
                sequence="SE", variant="SK", tr=3500.0, te=100.0, field=1.5, flip=150, etl=15,
                source="fastcleverseg VB2"),
}


def uid(*parts):
    """Deterministic UID under 2.25 from a name (128-bit integer, <= 39 digits)."""
    h = hashlib.sha256(("foramen-real/" + "/".join(parts)).encode()).digest()
    return "2.25." + str(int.from_bytes(h[:16], "big"))


def rng_for(*parts):
    seed = int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest()[:8], "big")
    return np.random.default_rng(seed)


def origin(shape):
    n_rows, n_cols, n_slices = shape
    return (n_slices - 1) / 2.0, -(n_cols - 1) / 2.0, (n_rows - 1) / 2.0


def fmt(v, nd=4):
    return float(round(float(v), nd))


def body_labels(set_name, GT):
    """Label value -> body name, following the set's rule."""
    present = [int(v) for v in np.unique(GT) if v != 0]
    names = SET_INFO[set_name]["names"]
    if set_name == "VB3":
        return {lab: names[lab - 1] for lab in present if 1 <= lab <= len(names)}
    rows = {lab: np.nonzero(GT == lab)[0].mean() for lab in present}
    order = sorted(present, key=lambda lab: rows[lab])
    if len(order) != len(names):
        raise ValueError(f"VB2 volume has {len(order)} labels, expected {len(names)}")
    return {lab: names[i] for i, lab in enumerate(order)}


def gt_summary(set_name, name, shape, GT):
    x0, y0, z0 = origin(shape)
    out = {"set": set_name, "volume": name, "shape_rows_cols_slices": list(shape),
           "geometry": {"voxel_to_lps": "x = x0 - slice, y = y0 + col, z = z0 - row",
                        "x0": x0, "y0": y0, "z0": z0, "spacing_mm": 1.0},
           "labels": {}}
    for lab, lname in sorted(body_labels(set_name, GT).items(), key=lambda t: t[1]):
        r, c, k = np.nonzero(GT == lab)
        x, y, z = x0 - k, y0 + c, z0 - r
        out["labels"][lname] = {
            "label": lab, "voxels": int(r.size),
            "centroid_mm": [fmt(x.mean()), fmt(y.mean()), fmt(z.mean())],
            "z_superior_mm": fmt(z.max()), "z_inferior_mm": fmt(z.min()),
            "y_anterior_mm": fmt(y.min()), "y_posterior_mm": fmt(y.max()),
            "x_range_mm": [fmt(x.min()), fmt(x.max())],
        }
    lumbar = [out["labels"][n]["centroid_mm"][0] for n in ("L1", "L2", "L3", "L4", "L5")
              if n in out["labels"]]
    out["canal_x_mm"] = fmt(np.mean(lumbar)) if lumbar else 0.0
    return out


def slab_plan(set_name, name, acq, n_slices, canal_k):
    """Slab centres (source slice index, fractional) and thickness for a clinical acquisition."""
    thick = 3.0 if acq.startswith("3mm") else 4.0
    rng = rng_for(set_name, name, f"slab{int(thick)}")
    coverage = rng.uniform(48.0, 80.0)
    gap = float(rng.choice([0.0, 0.1, 0.2]))
    offset_frac = rng.uniform(-0.5, 0.5)
    reverse = bool(rng.integers(2))
    lo, hi = -0.5, n_slices - 0.5  # the source slab's edges, index units
    for g in (gap, 0.0):
        spacing = round(thick * (1.0 + g), 3)
        n = int(np.clip(round((coverage - thick) / spacing + 1.0), 12, 20))
        while n > 12 and (n - 1) * spacing + thick > hi - lo:
            n -= 1
        if (n - 1) * spacing + thick <= hi - lo:
            break
    else:
        raise ValueError(f"{set_name} {name}: {n_slices} slices cannot hold 12 {thick} mm slabs")
    half = ((n - 1) * spacing + thick) / 2.0
    centre = canal_k + offset_frac * spacing
    centre = min(max(centre, lo + half), hi - half)  # slide inward when the canal is off-centre
    centres = [centre + (i - (n - 1) / 2.0) * spacing for i in range(n)]
    return dict(thickness_mm=thick, spacing_mm=spacing, gap_fraction=g, n_slices=n,
                coverage_mm=round((n - 1) * spacing + thick, 2),
                centre_offset_from_canal_mm=round(centre - canal_k, 2),
                centres_index=centres, instance_order="right-to-left" if reverse else "left-to-right")


def slab_image(I, centre, thick):
    """Overlap-weighted mean of the 1 mm slices covering [centre - T/2, centre + T/2]."""
    a, b = centre - thick / 2.0, centre + thick / 2.0
    acc = np.zeros(I.shape[:2], float)
    wsum = 0.0
    for k in range(max(0, int(np.floor(a + 0.5))), min(I.shape[2], int(np.ceil(b + 0.5)))):
        w = max(0.0, min(b, k + 0.5) - max(a, k - 0.5))
        if w > 0:
            acc += w * I[:, :, k]
            wsum += w
    return acc / wsum


def resample_inplane(img, p):
    """Cubic-spline resample to square pixels of p mm over the same field of view.

    Returns the image and the source-index position of the new pixel (0, 0)."""
    n_r, n_c = img.shape
    nr, nc = int(np.floor(n_r / p)), int(np.floor(n_c / p))
    start = -0.5 + 0.5 * p
    rr = start + p * np.arange(nr)
    cc = start + p * np.arange(nc)
    grid = np.meshgrid(rr, cc, indexing="ij")
    out = scipy.ndimage.map_coordinates(img, grid, order=3, mode="nearest")
    return np.clip(out, 0, None), start


def base_dataset(set_name, name, acq, sop_uid):
    info = SET_INFO[set_name]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = uid("implementation")
    meta.ImplementationVersionName = "FORAMEN_REAL"
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.SOPClassUID = MR_IMAGE_STORAGE
    ds.SOPInstanceUID = sop_uid
    for tag in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
        setattr(ds, tag, "20190101")
    for tag in ("StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime"):
        setattr(ds, tag, "120000")
    ds.AccessionNumber = ""
    ds.Modality = "MR"
    ds.Manufacturer = f"{info['source']} (converted by foramen tools/real_to_dicom.py)"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = f"{set_name} LSPINE"
    ds.SeriesDescription = info["description"] + ("" if acq == "1mm" else f" {acq}")
    ds.PatientName = f"{set_name}^{name}"
    ds.PatientID = f"{set_name}-{name}"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.BodyPartExamined = "LSPINE"
    ds.ScanningSequence = info["sequence"]
    ds.SequenceVariant = info["variant"]
    ds.ScanOptions = ""
    ds.RepetitionTime = info["tr"]
    ds.EchoTime = info["te"]
    ds.NumberOfAverages = 1
    ds.MagneticFieldStrength = info["field"]
    ds.EchoTrainLength = info["etl"]
    ds.FlipAngle = info["flip"]
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = uid(set_name, name, "study")
    ds.SeriesInstanceUID = uid(set_name, name, acq, "series")
    ds.StudyID = "1"
    ds.SeriesNumber = 301 + ACQUISITIONS.index(acq)
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.FrameOfReferenceUID = uid(set_name, name, "frame-of-reference")
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "00"
    return ds


def write_acquisition(set_name, name, acq, I, gt, series_dir):
    n_rows, n_cols, n_slices = I.shape
    x0, y0, z0 = origin(I.shape)
    os.makedirs(series_dir, exist_ok=True)
    for f in os.listdir(series_dir):
        if f.endswith(".dcm"):
            os.remove(os.path.join(series_dir, f))
    if acq == "1mm":
        plan = dict(thickness_mm=1.0, spacing_mm=1.0, n_slices=n_slices, pixel_mm=1.0,
                    centres_index=list(range(n_slices)), instance_order="left-to-right")
        slices = [(k, I[:, :, k].astype(float), f"IM{k + 1:04d}.dcm") for k in range(n_slices)]
        write_order = list(range(n_slices))
        scale, bits, p, start = 1.0, 8, 1.0, 0.0
    else:
        canal_k = x0 - gt["canal_x_mm"]
        plan = slab_plan(set_name, name, acq, n_slices, canal_k)
        rng = rng_for(set_name, name, acq, "files")
        p, start = 1.0, 0.0
        if acq.endswith("-coarse"):
            p = round(float(rng_for(set_name, name, acq, "pixel").uniform(0.7, 1.0)), 4)
        plan["pixel_mm"] = p
        names = set()
        while len(names) < plan["n_slices"]:
            names.add(f"{int(rng.integers(16 ** 8)):08X}")
        names = sorted(names)
        rng.shuffle(names)
        slices = []
        for i, kc in enumerate(plan["centres_index"]):
            img = slab_image(I, kc, plan["thickness_mm"])
            if p != 1.0:
                img, start = resample_inplane(img, p)
            slices.append((kc, img, names[i] + ".dcm"))
        write_order = list(rng.permutation(len(slices)))
        scale, bits = 16.0, 12
    if plan["instance_order"] == "right-to-left":
        instance = {i: len(slices) - i for i in range(len(slices))}
    else:
        instance = {i: i + 1 for i in range(len(slices))}
    for i in write_order:
        kc, img, fname = slices[i]
        ds = base_dataset(set_name, name, acq, uid(set_name, name, acq, "instance", str(i)))
        ds.MRAcquisitionType = "3D" if acq == "1mm" else "2D"
        ds.SliceThickness = plan["thickness_mm"]
        ds.SpacingBetweenSlices = plan["spacing_mm"]
        ds.InstanceNumber = instance[i]
        ipp = [x0 - kc, y0 + start, z0 - start]
        ds.ImagePositionPatient = [fmt(v) for v in ipp]
        ds.SliceLocation = fmt(ipp[0])
        pix = np.clip(np.rint(img * scale), 0, 2 ** bits - 1).astype("<u2")
        ds.Rows, ds.Columns = pix.shape
        ds.PixelSpacing = [p, p]
        ds.BitsStored = bits
        ds.HighBit = bits - 1
        ds.WindowCenter = int(2 ** (bits - 1))
        ds.WindowWidth = int(2 ** bits)
        ds.PixelData = np.ascontiguousarray(pix).tobytes()
        ds.save_as(os.path.join(series_dir, fname), enforce_file_format=True)
    plan = {k: v for k, v in plan.items() if k != "centres_index"}
    plan["slice_x_mm"] = [fmt(x0 - kc, 3) for kc, _, _ in slices]
    plan["rows_cols"] = list(slices[0][1].shape)
    return plan


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def convert_one(args):
    set_name, mat_path, out_dir, acqs = args
    name = os.path.splitext(os.path.basename(mat_path))[0]
    m = scipy.io.loadmat(mat_path)
    I, GT = np.asarray(m["I"]), np.asarray(m["GT"])
    if I.ndim != 3 or GT.ndim != 3 or I.shape[:2] != GT.shape[:2] or GT.shape[2] < I.shape[2]:
        raise ValueError(f"{mat_path}: unexpected shapes I{I.shape} GT{GT.shape}")
    if GT.shape[2] > I.shape[2]:
        if GT[:, :, I.shape[2]:].any():
            raise ValueError(f"{mat_path}: GT's extra slices are not empty")
        GT = GT[:, :, :I.shape[2]]
    if I.dtype != np.uint8:
        raise ValueError(f"{mat_path}: I is {I.dtype}, expected uint8")
    gt = gt_summary(set_name, name, I.shape, GT)
    os.makedirs(os.path.join(out_dir, set_name, name), exist_ok=True)
    write_json(os.path.join(out_dir, set_name, name, "gt.json"), gt)
    plans = {}
    for acq in acqs:
        vol_dir = os.path.join(out_dir, set_name, acq, name)
        stamp = os.path.join(vol_dir, "acq.json")
        plan = write_acquisition(set_name, name, acq, I, gt, os.path.join(vol_dir, "series"))
        plan["converter_version"] = CONVERTER_VERSION
        write_json(stamp, plan)
        plans[acq] = plan
    return name, I.shape, plans


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    workers, acqs = 2, list(ACQUISITIONS)
    for a in argv[1:]:
        if a.startswith("--workers="):
            workers = int(a.split("=", 1)[1])
        elif a.startswith("--acq="):
            acqs = a.split("=", 1)[1].split(",")
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
    if len(args) != 3 or args[0] not in SET_INFO or any(a not in ACQUISITIONS for a in acqs):
        print(__doc__)
        return 2
    set_name, mat_dir, out_dir = args
    mats = sorted(os.path.join(mat_dir, f) for f in os.listdir(mat_dir)
                  if f.endswith(".mat") and os.path.splitext(f)[0].isdigit())
    if not mats:
        print(f"no NN.mat files in {mat_dir}", file=sys.stderr)
        return 1
    with ProcessPoolExecutor(max_workers=max(1, workers)) as ex:
        jobs = [(set_name, p, out_dir, acqs) for p in mats]
        for name, shape, plans in ex.map(convert_one, jobs):
            desc = ", ".join(f"{a}: {p['n_slices']}x{p['thickness_mm']:g}/{p['spacing_mm']:g} mm"
                             f" px {p['pixel_mm']:g}" for a, p in plans.items())
            print(f"{set_name} {name}: {shape[0]}x{shape[1]}x{shape[2]} -> {desc}")
    print(f"converted {len(mats)} {set_name} volumes into {os.path.join(out_dir, set_name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
