#!/usr/bin/env python3
"""Wrap the fastcleverseg VB3 lumbar MRI volumes as sagittal MR DICOM series.

Usage (with the test-data venv; it needs scipy in addition to pydicom + numpy):
    ~/.cache/foramen-test-data/venv/bin/pip install scipy      # once
    ~/.cache/foramen-test-data/venv/bin/python tools/vb3_to_dicom.py MAT_DIR OUT_DIR

MAT_DIR holds NN.mat (MATLAB v5) copied from
`ImageDatasets/VBs/VB3/Isotropic/Matlab/` of github.com/JonathanRamos/fastcleverseg
(see tools/eval-vb3.sh). The data's licence is unverified: keep MAT_DIR and OUT_DIR
OUTSIDE this repository and never commit anything derived from them.

Each NN.mat holds `I` (uint8, I[row, col, slice]) and `GT` (uint8 labels 1..5 = L1..L5),
1 mm isotropic; rows run superior->inferior, columns anterior->posterior, slices
across left/right. For every NN.mat this writes

    OUT_DIR/NN/series/IM0001.dcm .. IMnnnn.dcm   one MR Image Storage file per slice
    OUT_DIR/NN/gt.json                           ground-truth vertebral bodies

Geometry mapping (patient LPS, mm; voxel (r, c, k) = (row, column, slice)):
    ImageOrientationPatient = 0\\1\\0\\0\\0\\-1
        row direction    (along a row, column index c increasing) = +y (anterior->posterior)
        column direction (down a column, row index r increasing)  = -z (superior->inferior)
        slice normal     = row x column = (-1, 0, 0): slice positions ascend toward patient right
    ImagePositionPatient of slice k = (x0 - k, y0, z0)
        x0 = (n_slices - 1) / 2   -> the middle slice k = (n_slices - 1) / 2 lies at x = 0
        y0 = -(n_cols - 1) / 2    -> the image is centred in y
        z0 = +(n_rows - 1) / 2    -> the image is centred in z
    so voxel (r, c, k) is at LPS (x0 - k, y0 + c, z0 - r).
    Slice k is IM{k+1:04d}.dcm, InstanceNumber k + 1, SliceLocation = x.
    Whether slice 0 of the source really is the patient's left is NOT known; the mapping
    above is a convention (it does not matter for level labelling, it would swap the
    left/right foramen names).

gt.json uses exactly the same mapping: per label L1..L5 the voxel count, the centroid
in LPS mm, and the superior / inferior extent in z (z_superior_mm = max z,
z_inferior_mm = min z, voxel centres).

The output is deterministic (UIDs are derived from the file name under root 2.25,
fixed dates), so re-running rewrites identical files; stale IM*.dcm files are removed.
"""
import hashlib
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import scipy.io
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
LEVEL_NAMES = ["L1", "L2", "L3", "L4", "L5"]


def uid(*parts):
    """Deterministic UID under 2.25 from a name (128-bit integer, <= 39 digits)."""
    h = hashlib.sha256(("foramen-vb3/" + "/".join(parts)).encode()).digest()
    return "2.25." + str(int.from_bytes(h[:16], "big"))


def geometry(shape):
    n_rows, n_cols, n_slices = shape
    x0 = (n_slices - 1) / 2.0
    y0 = -(n_cols - 1) / 2.0
    z0 = (n_rows - 1) / 2.0
    return x0, y0, z0


def voxel_to_lps(r, c, k, shape):
    x0, y0, z0 = geometry(shape)
    return (x0 - np.asarray(k, float), y0 + np.asarray(c, float), z0 - np.asarray(r, float))


def fmt(v):
    # DS values: keep them short and exact for our half-integer grid
    return float(round(float(v), 4))


def gt_summary(name, I, GT):
    shape = I.shape
    out = {
        "volume": name,
        "shape_rows_cols_slices": list(shape),
        "geometry": {
            "image_orientation_patient": [0, 1, 0, 0, 0, -1],
            "voxel_to_lps": "x = x0 - slice, y = y0 + col, z = z0 - row",
            "x0": geometry(shape)[0], "y0": geometry(shape)[1], "z0": geometry(shape)[2],
            "spacing_mm": 1.0,
        },
        "image_extent_mm": {
            "x": [fmt(voxel_to_lps(0, 0, shape[2] - 1, shape)[0]), fmt(voxel_to_lps(0, 0, 0, shape)[0])],
            "y": [fmt(voxel_to_lps(0, 0, 0, shape)[1]), fmt(voxel_to_lps(0, shape[1] - 1, 0, shape)[1])],
            "z": [fmt(voxel_to_lps(shape[0] - 1, 0, 0, shape)[2]), fmt(voxel_to_lps(0, 0, 0, shape)[2])],
        },
        "labels": {},
    }
    for lab, lname in enumerate(LEVEL_NAMES, start=1):
        r, c, k = np.nonzero(GT == lab)
        if r.size == 0:
            out["labels"][lname] = None
            continue
        x, y, z = voxel_to_lps(r, c, k, shape)
        out["labels"][lname] = {
            "label": lab,
            "voxels": int(r.size),
            "centroid_mm": [fmt(x.mean()), fmt(y.mean()), fmt(z.mean())],
            "z_superior_mm": fmt(z.max()),
            "z_inferior_mm": fmt(z.min()),
            "y_anterior_mm": fmt(y.min()),
            "y_posterior_mm": fmt(y.max()),
            "x_range_mm": [fmt(x.min()), fmt(x.max())],
        }
    return out


def write_series(name, I, series_dir):
    n_rows, n_cols, n_slices = I.shape
    x0, y0, z0 = geometry(I.shape)
    study_uid = uid(name, "study")
    series_uid = uid(name, "series")
    frame_uid = uid(name, "frame-of-reference")
    impl_uid = uid("implementation")
    os.makedirs(series_dir, exist_ok=True)
    wanted = set()
    for k in range(n_slices):
        fname = f"IM{k + 1:04d}.dcm"
        wanted.add(fname)
        sop_uid = uid(name, "instance", str(k + 1))

        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = impl_uid
        meta.ImplementationVersionName = "FORAMEN_VB3"

        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
        ds.SOPClassUID = MR_IMAGE_STORAGE
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = "20190101"
        ds.SeriesDate = "20190101"
        ds.AcquisitionDate = "20190101"
        ds.ContentDate = "20190101"
        ds.StudyTime = "120000"
        ds.SeriesTime = "120000"
        ds.AcquisitionTime = "120000"
        ds.ContentTime = "120000"
        ds.AccessionNumber = ""
        ds.Modality = "MR"
        ds.Manufacturer = "fastcleverseg VB3 (converted by foramen tools/vb3_to_dicom.py)"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = "VB3 LSPINE"
        ds.SeriesDescription = "VB3 SAG T1 FFE"
        ds.PatientName = f"VB3^{name}"
        ds.PatientID = f"VB3-{name}"
        ds.PatientBirthDate = ""
        ds.PatientSex = ""
        ds.BodyPartExamined = "LSPINE"
        ds.ScanningSequence = "GR"
        ds.SequenceVariant = "SP"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "3D"
        ds.SliceThickness = 1.0
        ds.RepetitionTime = 6.0
        ds.EchoTime = 2.5
        ds.NumberOfAverages = 1
        ds.MagneticFieldStrength = 3.0
        ds.SpacingBetweenSlices = 1.0
        ds.EchoTrainLength = 1
        ds.FlipAngle = 10
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = 301
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = k + 1
        ipp = [x0 - k, y0, z0]
        ds.ImagePositionPatient = [fmt(v) for v in ipp]
        ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = fmt(ipp[0])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = n_rows
        ds.Columns = n_cols
        ds.PixelSpacing = [1.0, 1.0]
        ds.BitsAllocated = 16
        ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.WindowCenter = 128
        ds.WindowWidth = 256
        ds.LossyImageCompression = "00"
        # slice k: rows = I rows (superior->inferior), columns = I cols (anterior->posterior)
        ds.PixelData = np.ascontiguousarray(I[:, :, k], dtype="<u2").tobytes()
        ds.save_as(os.path.join(series_dir, fname), enforce_file_format=True)
    for f in os.listdir(series_dir):
        if f.startswith("IM") and f.endswith(".dcm") and f not in wanted:
            os.remove(os.path.join(series_dir, f))


def convert_one(args):
    mat_path, out_dir = args
    name = os.path.splitext(os.path.basename(mat_path))[0]
    m = scipy.io.loadmat(mat_path)
    I = np.asarray(m["I"])
    GT = np.asarray(m["GT"])
    if I.ndim != 3 or I.shape != GT.shape:
        raise ValueError(f"{mat_path}: unexpected shapes I{I.shape} GT{GT.shape}")
    if I.dtype != np.uint8:
        raise ValueError(f"{mat_path}: I is {I.dtype}, expected uint8")
    vol_dir = os.path.join(out_dir, name)
    write_series(name, I, os.path.join(vol_dir, "series"))
    gt = gt_summary(name, I, GT)
    tmp = os.path.join(vol_dir, "gt.json.tmp")
    with open(tmp, "w") as f:
        json.dump(gt, f, indent=1)
        f.write("\n")
    os.replace(tmp, os.path.join(vol_dir, "gt.json"))
    return name, I.shape


def main(argv):
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 2 if len(argv) != 2 else 0
    mat_dir, out_dir = argv[1], argv[2]
    mats = sorted(
        os.path.join(mat_dir, f) for f in os.listdir(mat_dir)
        if f.endswith(".mat") and os.path.splitext(f)[0].isdigit()
    )
    if not mats:
        print(f"no NN.mat files in {mat_dir}", file=sys.stderr)
        return 1
    os.makedirs(out_dir, exist_ok=True)
    workers = min(len(mats), os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers) as ex:
        for name, shape in ex.map(convert_one, [(p, out_dir) for p in mats]):
            print(f"{name}: {shape[0]}x{shape[1]} x {shape[2]} slices -> {os.path.join(out_dir, name)}")
    print(f"converted {len(mats)} volumes into {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
