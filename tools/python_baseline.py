#!/usr/bin/env python3
"""A straightforward pydicom + numpy + scikit-image pipeline, for speed comparison only.

Per series folder it does the kind of work foramen does, the way a first Python
version would: read every file, sort the slices by position along the normal, build
the volume in physical units, then on each slice Gaussian smoothing, an Otsu
threshold, morphological opening and closing, hole filling, connected components and
regionprops. It measures nothing clinically meaningful; it is a cost reference.

    python_baseline.py SERIES_DIR... [--repeat R]

Prints one JSON line per series: {"series": DIR, "ms": median wall ms, "load_ms":
median ms of reading, sorting and building the volume, "slices": n, "regions": n}. Needs pydicom, numpy and scikit-image (see tools/compare-python.sh).
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import pydicom
from scipy import ndimage
from skimage import filters, measure, morphology


def load_volume(folder):
    datasets = []
    for root, _dirs, files in os.walk(folder):
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                ds = pydicom.dcmread(path)
            except Exception:
                continue
            if "PixelData" in ds:
                datasets.append(ds)
    if not datasets:
        raise ValueError(f"no images in {folder}")
    iop = np.array(datasets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    datasets.sort(key=lambda d: float(np.dot(normal, np.array(d.ImagePositionPatient, dtype=float))))
    slices = []
    for d in datasets:
        slope = float(getattr(d, "RescaleSlope", 1.0))
        intercept = float(getattr(d, "RescaleIntercept", 0.0))
        slices.append(d.pixel_array.astype(np.float32) * slope + intercept)
    spacing = [float(v) for v in datasets[0].PixelSpacing]
    return np.stack(slices), spacing


def analyse(volume, spacing):
    sigma_px = 0.7 / spacing[0]
    ball = morphology.disk(max(1, round(1.0 / spacing[0])))
    regions = 0
    for img in volume:
        smooth = filters.gaussian(img, sigma=sigma_px, preserve_range=True)
        mask = smooth > filters.threshold_otsu(smooth)
        mask = ndimage.binary_opening(mask, structure=ball)
        mask = ndimage.binary_closing(mask, structure=ball)
        mask = ndimage.binary_fill_holes(mask)
        labels = measure.label(mask, connectivity=2)
        props = measure.regionprops(labels, intensity_image=smooth)
        regions += sum(1 for p in props if p.area * spacing[0] * spacing[1] >= 3.0)
    return regions


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("series", nargs="+")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for folder in args.series:
        times, loads = [], []
        for _ in range(max(1, args.repeat)):
            t = time.perf_counter()
            volume, spacing = load_volume(folder)
            loads.append((time.perf_counter() - t) * 1e3)
            regions = analyse(volume, spacing)
            times.append((time.perf_counter() - t) * 1e3)
        print(json.dumps({
            "series": folder,
            "ms": round(statistics.median(times), 1),
            "load_ms": round(statistics.median(loads), 1),
            "slices": int(volume.shape[0]),
            "regions": regions,
        }))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
