#!/usr/bin/env python3
"""Reference pixel dump for foramen tests, using pydicom.

Usage: python pydicom_dump.py OUTDIR FILE...

For each FILE (index i = position in the argument list, from 0):
  OUTDIR/<i>.stored.i32    raw little-endian int32 of ds.pixel_array (stored values, no
                           rescale), shape frames x rows x cols; monochrome only
  OUTDIR/<i>.modality.f64  little-endian float64 after pydicom.pixels.apply_modality_lut;
                           monochrome only
and one JSON line on stdout:
  {"index", "path", "ok", "error", "frames", "rows", "columns", "samples",
   "transfer_syntax", "photometric"}
"ok" is true when the file was read and, if it has pixel data, the pixels decoded.
Color images are decoded (to check they decode) but no arrays are written.
Never raises for a bad file: every per-file error is caught and reported.
"""
import json
import os
import sys
import traceback


def _int(v, default=None):
    try:
        return int(v) if v is not None and v != "" else default
    except Exception:
        return default


def dump_one(index, path, outdir):
    rec = {
        "index": index, "path": path, "ok": False, "error": None,
        "frames": None, "rows": None, "columns": None, "samples": None,
        "transfer_syntax": None, "photometric": None,
        "has_pixels": False, "written": False,
    }
    try:
        import numpy as np
        import pydicom
        from pydicom.pixels import apply_modality_lut

        ds = pydicom.dcmread(path, force=True)
        fm = getattr(ds, "file_meta", None)
        ts = getattr(fm, "TransferSyntaxUID", None) if fm is not None else None
        rec["transfer_syntax"] = str(ts) if ts else None
        rec["rows"] = _int(ds.get("Rows"))
        rec["columns"] = _int(ds.get("Columns"))
        rec["samples"] = _int(ds.get("SamplesPerPixel"), 1 if "Rows" in ds else None)
        rec["frames"] = _int(ds.get("NumberOfFrames"), 1 if "Rows" in ds else None)
        pi = ds.get("PhotometricInterpretation")
        rec["photometric"] = str(pi) if pi is not None else None

        has_px = any(t in ds for t in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
        rec["has_pixels"] = has_px
        if not has_px:
            rec["ok"] = True
            return rec

        arr = ds.pixel_array
        monochrome = (rec["samples"] or 1) == 1 and (
            rec["photometric"] is None or rec["photometric"].startswith("MONOCHROME")
        )
        if not monochrome:
            rec["ok"] = True
            return rec

        frames = rec["frames"] or 1
        rows, cols = arr.shape[-2], arr.shape[-1]
        stored = np.asarray(arr).reshape(frames, rows, cols)
        if np.issubdtype(stored.dtype, np.floating):
            raise ValueError(f"float pixel data ({stored.dtype}) not dumped as int32")
        if stored.dtype in (np.uint32, np.uint64, np.int64) and stored.size and (
            stored.max() > np.iinfo(np.int32).max or stored.min() < np.iinfo(np.int32).min
        ):
            raise ValueError("stored values do not fit int32")
        modality = np.asarray(apply_modality_lut(arr, ds), dtype=np.float64).reshape(frames, rows, cols)

        os.makedirs(outdir, exist_ok=True)
        stored.astype("<i4").tofile(os.path.join(outdir, f"{index}.stored.i32"))
        modality.astype("<f8").tofile(os.path.join(outdir, f"{index}.modality.f64"))
        rec["written"] = True
        rec["ok"] = True
    except BaseException as e:  # noqa: BLE001 - must never crash on a bad file
        if isinstance(e, KeyboardInterrupt):
            raise
        msg = f"{type(e).__name__}: {e}"
        rec["error"] = " | ".join(x.strip() for x in msg.splitlines() if x.strip())[:1000]
        if os.environ.get("PYDICOM_DUMP_TRACE"):
            traceback.print_exc(file=sys.stderr)
    return rec


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    outdir, files = argv[0], argv[1:]
    os.makedirs(outdir, exist_ok=True)
    import warnings
    warnings.simplefilter("ignore")
    for i, path in enumerate(files):
        rec = dump_one(i, path, outdir)
        print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
