#!/usr/bin/env bash
# Level-labelling validation on real lumbar MRI: the 54 fastcleverseg VB3 volumes.
#
# Usage:
#   FORAMEN_VB3_MAT=/path/to/mat tools/eval-vb3.sh [--json]
#
# FORAMEN_VB3_MAT holds 01.mat .. 54.mat, i.e. `ImageDatasets/VBs/VB3/Isotropic/Matlab/NN.mat`
# of https://github.com/JonathanRamos/fastcleverseg (use only that VB3 folder), e.g.
#   git clone --filter=blob:none --no-checkout https://github.com/JonathanRamos/fastcleverseg fcs
#   git -C fcs sparse-checkout set --no-cone '/ImageDatasets/VBs/VB3/Isotropic/Matlab/[0-9][0-9].mat'
#   git -C fcs checkout && export FORAMEN_VB3_MAT=$PWD/fcs/ImageDatasets/VBs/VB3/Isotropic/Matlab
# The data's licence is unverified: keep it and everything derived from it OUTSIDE this
# repository; only numbers and conclusions go into docs/validation.md.
#
# Steps:
#   1. tools/vb3_to_dicom.py  $FORAMEN_VB3_MAT -> $WORK/dicom/NN/series/*.dcm + gt.json
#   2. foramen measure $WORK/dicom/NN/series --out $WORK/results/NN   (release build, each volume)
#   3. tools/eval_vb3_levels.py $WORK/dicom $WORK/results   (per-volume table + summary)
#
# Environment:
#   FORAMEN_VB3_MAT   (required) directory with the NN.mat files
#   FORAMEN_VB3_WORK  output directory (default: $(dirname $FORAMEN_VB3_MAT)/vb3-eval);
#                     must be outside the repository
#   PYTHON            python with pydicom, numpy and scipy
#                     (default: ~/.cache/foramen-test-data/venv/bin/python, i.e. the venv made by
#                     tools/fetch-test-data.sh plus `pip install scipy`)
#   SKIP_CONVERT=1    reuse an existing $WORK/dicom
# Extra arguments (e.g. --json) are passed to the evaluator. Exit status: non-zero only
# when a step cannot run; failing volumes are reported by the evaluator, not by the exit code.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${FORAMEN_VB3_MAT:?set FORAMEN_VB3_MAT to the directory holding the VB3 NN.mat files}"
MAT="$(cd "$FORAMEN_VB3_MAT" && pwd)"
WORK="${FORAMEN_VB3_WORK:-$(dirname "$MAT")/vb3-eval}"
PYTHON="${PYTHON:-$HOME/.cache/foramen-test-data/venv/bin/python}"

mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
case "$WORK/" in
  "$ROOT"/*) echo "eval-vb3: FORAMEN_VB3_WORK ($WORK) must be outside the repository" >&2; exit 2 ;;
esac

if ! "$PYTHON" -c 'import scipy, pydicom, numpy' 2>/dev/null; then
  echo "eval-vb3: $PYTHON lacks scipy/pydicom/numpy; e.g. '$PYTHON -m pip install scipy'" >&2
  exit 2
fi

if [[ "${SKIP_CONVERT:-0}" != 1 ]]; then
  echo "== converting $MAT -> $WORK/dicom" >&2
  "$PYTHON" "$ROOT/tools/vb3_to_dicom.py" "$MAT" "$WORK/dicom" >&2
fi

echo "== building foramen (release)" >&2
(cd "$ROOT" && cargo build --release --quiet)
BIN="$ROOT/target/release/foramen"

echo "== measuring" >&2
start=$(date +%s)
for vol in "$WORK"/dicom/*/; do
  name="$(basename "$vol")"
  out="$WORK/results/$name"
  rm -rf "$out"
  mkdir -p "$out"
  rc=0
  "$BIN" measure "$vol/series" --out "$out" >"$out/stdout.log" 2>"$out/stderr.log" || rc=$?
  if [[ $rc != 0 ]]; then
    echo "   $name: foramen measure exited with status $rc (see $out/stderr.log)" >&2
  fi
done
echo "== measured in $(( $(date +%s) - start )) s" >&2

"$PYTHON" "$ROOT/tools/eval_vb3_levels.py" "$WORK/dicom" "$WORK/results" "$@"
