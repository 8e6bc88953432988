#!/usr/bin/env bash
# foramen vs a straightforward Python pipeline (tools/python_baseline.py), per series,
# on the same generated series: N sagittal MR T1 phantoms of 15×512×512.
#
#   tools/compare-python.sh [N] [REPEAT]      (defaults: 5 series, median of 3 runs)
#
# foramen is timed as the release binary, `foramen measure SERIES --out OUT --no-qc`
# (process start, header scan, decode, levels, foramina, report.json + CSV + HTML);
# Python as read + sort + volume + per-slice smoothing, Otsu, morphology, labelling and
# regionprops, inside one interpreter (imports not counted). Prints per-series medians
# and the ratio. Needs python3 with venv and pip (PyPI); the venv is made once in
# $FORAMEN_PY_VENV (default /tmp/foramen-pyvenv). Not part of `cargo test`.
set -euo pipefail

N="${1:-5}"
REPEAT="${2:-3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${FORAMEN_PY_VENV:-/tmp/foramen-pyvenv}"
PACKAGES=("pydicom==3.0.2" "numpy==2.4.6" "scipy==1.17.1" "scikit-image==0.26.0")
WORK="${FORAMEN_COMPARE_DIR:-${TMPDIR:-/tmp}/foramen-compare-python}"

if [[ ! -f "$VENV/.ok" || "$(cat "$VENV/.ok")" != "${PACKAGES[*]}" ]]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet "${PACKAGES[@]}"
  echo "${PACKAGES[*]}" > "$VENV/.ok"
fi

cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
FORAMEN="$ROOT/target/release/foramen"

mkdir -p "$WORK"
for i in $(seq 1 "$N"); do
  d="$WORK/case-$i"
  [[ -f "$d/truth.json" ]] || "$FORAMEN" phantom --out "$d" --seed "$((100 + i))" \
    --slices 15 --rows 512 --columns 512 --pixel-spacing 0.6 --slice-thickness 4 -q
done

median_ms() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-10s %12s %12s %8s\n' series foramen_ms python_ms ratio
ratios=()
for i in $(seq 1 "$N"); do
  d="$WORK/case-$i/series"
  cat "$d"/* > /dev/null   # warm the page cache for both
  f_ms=$(for _ in $(seq 1 "$REPEAT"); do
    s=$(date +%s%N)
    "$FORAMEN" measure "$d" --out "$WORK/out-$i" --no-qc -q > /dev/null
    echo $(( ($(date +%s%N) - s) / 1000000 ))
  done | median_ms)
  p_ms=$("$VENV/bin/python" "$ROOT/tools/python_baseline.py" "$d" --repeat "$REPEAT" \
    | "$VENV/bin/python" -c 'import json,sys; print(json.loads(sys.stdin.readline())["ms"])')
  ratio=$(awk -v p="$p_ms" -v f="$f_ms" 'BEGIN {printf "%.1f", p / f}')
  ratios+=("$ratio")
  printf '%-10s %12s %12s %7sx\n' "case-$i" "$f_ms" "$p_ms" "$ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median ratio (python / foramen): %sx\n", a[int((NR+1)/2)]}'
