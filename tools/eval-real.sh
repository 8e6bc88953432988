#!/usr/bin/env bash
# Level-labelling evaluation on real lumbar MRI: the fastcleverseg VB3 (54) and VB2 (17)
# volumes, each written as five acquisitions (1 mm; 3 mm and 4 mm sagittal slabs; the slabs
# again on a 0.7-1.0 mm in-plane grid), plus the SCT lumbar T2 NIfTI when the binary reads
# NIfTI. Prints found discs per set, acquisition and level, confident wrong labels, a
# calibration table and every failing series (see tools/eval_real_levels.py for the rules);
# then the foramina against the real-scan reading (tools/eval_real_foramina.py, issue 18).
#
# Usage:
#   tools/eval-real.sh [--json]          convert (once), measure everything, score
#   tools/eval-real.sh --self-test       check the scoring only (no data needed)
# With --json stdout stays one JSON document (the levels); the foramina go to
# $FORAMEN_REAL_WORK/results/foramina-eval.json.
#
# Data (licence unverified: it and everything derived stay OUTSIDE this repository; only
# numbers and conclusions go into docs/validation.md). One of, for fastcleverseg:
#   FORAMEN_FCS_GIT=DIR   a git directory holding github.com/JonathanRamos/fastcleverseg
#                         (e.g. a bare mirror); the .mat files are read with `git show`
#   (neither)             a partial, sparse clone of only ImageDatasets/VBs/VB{2,3}/Isotropic/Matlab
# Use only the VBs/VB3 and VBs/VB2 folders of that repository: the others are kept for
# independent checks. SCT: FORAMEN_SCT_NII=FILE, or FORAMEN_SCT_GIT=DIR (a git directory of
# github.com/spinalcordtoolbox/sct_tutorial_data), else the SCT run is left out.
#
# Environment:
#   FORAMEN_REAL_WORK  work directory (default ~/.cache/foramen-real-data): mat/, dicom/, results/
#   FORAMEN_BIN        foramen binary (default: cargo build --release, then
#                      ${CARGO_TARGET_DIR:-target}/release/foramen)
#   FORAMEN_EVAL_JOBS  parallel `foramen measure` runs (default 2)
#   RAYON_NUM_THREADS  threads per run (default 1: the runs are the parallel unit)
#   PYTHON             python with numpy, scipy, pydicom (default: the venv of
#                      tools/fetch-test-data.sh, ~/.cache/foramen-test-data/venv; scipy is
#                      installed into it when missing)
#   SKIP_MEASURE=1     rescore the existing results only
#   FORAMEN_EVAL_SETS  e.g. "VB3" to run one set (default "VB3 VB2")
#   FORAMEN_REFERENCE_DIR  foramen readings (default fixtures/reference/foramina; first
#                      readings in it, second readings in its repeat/ folder)
# Exit status: non-zero only when a step cannot run; failing volumes are reported, not fatal.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCORER="$ROOT/tools/eval_real_levels.py"
FORAMINA_SCORER="$ROOT/tools/eval_real_foramina.py"
REFERENCE_DIR="${FORAMEN_REFERENCE_DIR:-$ROOT/fixtures/reference/foramina}"
if [[ "${1:-}" == --self-test ]]; then
  python3 "$SCORER" --self-test "${FORAMEN_REAL_WORK:-}"
  exec python3 "$FORAMINA_SCORER" --self-test
fi

WORK="${FORAMEN_REAL_WORK:-$HOME/.cache/foramen-real-data}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
case "$WORK/" in
  "$ROOT"/*) echo "eval-real: FORAMEN_REAL_WORK ($WORK) must be outside the repository" >&2; exit 2 ;;
esac
SETS="${FORAMEN_EVAL_SETS:-VB3 VB2}"
JOBS="${FORAMEN_EVAL_JOBS:-2}"
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-1}"
ACQS="1mm 3mm 4mm 3mm-coarse 4mm-coarse"
VB3_VOLS="$(seq -w 1 54 | tr '\n' ' ')"
VB2_VOLS="02 04 05 06 07 08 09 10 12 13 14 16 17 18 19 20 23"
FCS_PATH=ImageDatasets/VBs

# --- python -------------------------------------------------------------------------
PYTHON="${PYTHON:-$HOME/.cache/foramen-test-data/venv/bin/python}"
if [[ ! -x "$PYTHON" ]]; then
  echo "== making the test-data venv (tools/fetch-test-data.sh)" >&2
  "$ROOT/tools/fetch-test-data.sh" >&2
fi
if ! "$PYTHON" -c 'import scipy' 2>/dev/null; then
  "$PYTHON" -m pip install --quiet scipy >&2
fi
"$PYTHON" -c 'import scipy, pydicom, numpy' || { echo "eval-real: $PYTHON lacks numpy/scipy/pydicom" >&2; exit 2; }

# --- data ---------------------------------------------------------------------------
fcs_clone() {  # sparse partial clone of the two allowed folders only
  local dir="$WORK/fcs"
  if [[ ! -d "$dir/.git" ]]; then
    git clone --quiet --filter=blob:none --no-checkout --depth 1 \
      https://github.com/JonathanRamos/fastcleverseg "$dir"
    git -C "$dir" sparse-checkout set --no-cone \
      "/$FCS_PATH/VB3/Isotropic/Matlab/[0-9][0-9].mat" "/$FCS_PATH/VB2/Isotropic/Matlab/[0-9][0-9].mat"
    git -C "$dir" checkout --quiet
  fi
  echo "$dir/.git"
}
for set in $SETS; do
  vols="${set}_VOLS"; mkdir -p "$WORK/mat/$set"
  for v in ${!vols}; do
    f="$WORK/mat/$set/$v.mat"
    [[ -s "$f" ]] && continue
    FCS_GIT="${FORAMEN_FCS_GIT:-$(fcs_clone)}"
    git -C "$FCS_GIT" show "HEAD:$FCS_PATH/$set/Isotropic/Matlab/$v.mat" >"$f.tmp"
    mv "$f.tmp" "$f"
  done
done
SCT="$WORK/sct/t2_lumbar.nii.gz"
if [[ ! -s "$SCT" ]]; then
  mkdir -p "$WORK/sct"
  if [[ -n "${FORAMEN_SCT_NII:-}" ]]; then
    cp "$FORAMEN_SCT_NII" "$SCT"
  elif [[ -n "${FORAMEN_SCT_GIT:-}" ]]; then
    git -C "$FORAMEN_SCT_GIT" show HEAD:single_subject/data/t2_lumbar/t2_lumbar.nii.gz >"$SCT.tmp"
    mv "$SCT.tmp" "$SCT"
  fi
fi

# --- conversion (redone when the converter or the volume list changes) ----------------
for set in $SETS; do
  vols="${set}_VOLS"
  stamp="$(cat "$ROOT/tools/real_to_dicom.py" | sha256sum | cut -c1-16) ${!vols}"
  if [[ -f "$WORK/dicom/$set/.stamp" && "$(cat "$WORK/dicom/$set/.stamp")" == "$stamp" ]]; then
    continue
  fi
  echo "== converting $set -> $WORK/dicom/$set" >&2
  rm -rf "$WORK/dicom/$set"
  start=$(date +%s)
  "$PYTHON" "$ROOT/tools/real_to_dicom.py" "$set" "$WORK/mat/$set" "$WORK/dicom" --workers="$JOBS" >"$WORK/convert-$set.log"
  echo "   converted in $(( $(date +%s) - start )) s (log $WORK/convert-$set.log)" >&2
  echo "$stamp" >"$WORK/dicom/$set/.stamp"
done

# --- measuring ----------------------------------------------------------------------
if [[ -z "${FORAMEN_BIN:-}" ]]; then
  echo "== building foramen (release)" >&2
  (cd "$ROOT" && cargo build --release --quiet)
  FORAMEN_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/foramen"
fi
export FORAMEN_BIN
echo "== binary: $FORAMEN_BIN ($("$FORAMEN_BIN" --version 2>/dev/null || echo '?'))" >&2

measure_one() {  # SET ACQ NN
  local src="$WORK/dicom/$1/$2/$3/series" out="$WORK/results/$1/$2/$3" rc=0 t0 t1
  rm -rf "$out"; mkdir -p "$out"
  t0=$(date +%s%N)
  "$FORAMEN_BIN" measure "$src" --out "$out" --no-qc >"$out/stdout.log" 2>"$out/stderr.log" || rc=$?
  t1=$(date +%s%N)
  echo "$rc $(( (t1 - t0) / 1000000 ))" >"$out/run.txt"
  [[ $rc == 0 ]] || echo "   $1 $2 $3: foramen measure exited with $rc (see $out/stderr.log)" >&2
}
export -f measure_one
export WORK

if [[ "${SKIP_MEASURE:-0}" != 1 ]]; then
  echo "== measuring ($JOBS in parallel, RAYON_NUM_THREADS=$RAYON_NUM_THREADS)" >&2
  start=$(date +%s)
  for set in $SETS; do
    vols="${set}_VOLS"
    for acq in $ACQS; do for v in ${!vols}; do echo "$set $acq $v"; done; done
  done | xargs -P "$JOBS" -L 1 bash -c 'measure_one "$@"' _
  wall=$(( $(date +%s) - start ))
  runs=$(cat "$WORK"/results/*/*/*/run.txt | wc -l)
  echo "== measured $runs series in $wall s wall; per run (ms): $(cat "$WORK"/results/*/*/*/run.txt \
    | awk '{s+=$2; if($2>m)m=$2} END {printf "mean %.0f, max %d", s/NR, m}')" >&2

  # SCT: only when the binary reads NIfTI
  rm -rf "$WORK/results/SCT"; mkdir -p "$WORK/results/SCT"
  if [[ ! -s "$SCT" ]]; then
    echo "skipped (no data: set FORAMEN_SCT_NII or FORAMEN_SCT_GIT)" >"$WORK/results/SCT/status.txt"
  else
    rc=0
    "$FORAMEN_BIN" measure "$SCT" --out "$WORK/results/SCT" --no-qc \
      >"$WORK/results/SCT/stdout.log" 2>"$WORK/results/SCT/stderr.log" || rc=$?
    if "$PYTHON" - "$WORK/results/SCT/report.json" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(1)
sys.exit(0 if r.get("series") else 1)  # a NIfTI-blind build lists the file as skipped
PY
    then
      echo measured >"$WORK/results/SCT/status.txt"
    else
      echo "skipped (binary reads no NIfTI)" >"$WORK/results/SCT/status.txt"
      echo "   SCT: foramen measure exited with $rc and measured no series" >&2
    fi
  fi
fi

echo "== scoring" >&2
"$PYTHON" "$SCORER" "$WORK" "$@"

echo "== foramina vs the reference reading ($REFERENCE_DIR)" >&2
if ! compgen -G "$REFERENCE_DIR/*.json" >/dev/null; then
  echo "   no reference readings there: foramina not scored" >&2
elif [[ " $* " == *" --json "* ]]; then
  "$PYTHON" "$FORAMINA_SCORER" "$WORK" --ref="$REFERENCE_DIR" --json >"$WORK/results/foramina-eval.json"
  echo "   written to $WORK/results/foramina-eval.json" >&2
else
  echo
  "$PYTHON" "$FORAMINA_SCORER" "$WORK" --ref="$REFERENCE_DIR"
fi
