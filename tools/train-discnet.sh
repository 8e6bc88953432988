#!/usr/bin/env bash
# Retrains the disc-centre detector (src/spine/levels/detector.rs) from scratch and writes
# src/spine/levels/discnet.safetensors. Deterministic: the same data and command give the
# same weights (seeded sampling and initialisation; candle on the CPU).
#
# Usage:
#   tools/train-discnet.sh [ITERATIONS]          (default 2000; about 35 minutes on 2 cores)
#
# Training data, all redistributable:
#   - SPIDER T2 SPACE sagittal slices and masks (van der Graaf et al., "Lumbar spine
#     segmentation in MR images: a dataset and a public benchmark", Sci Data 2024; CC BY 4.0),
#     as PNG slice stacks in Data/t2_SPACE/{images,masks} of the repository
#     github.com/istiak769/Lumbar-Spine-MRI-Segementation. Give a git directory of it
#     (a clone or bare mirror) as FORAMEN_SPIDER_GIT, or an extracted Data/t2_SPACE folder as
#     FORAMEN_SPIDER_DIR. Nothing of it is committed; the weights carry its attribution
#     (README.md, docs/validation.md).
#   - the project's own phantom (generated in the trainer; seeds 500000+ for training,
#     600000+ held out, away from the evaluation suites' seeds).
# Never train on VB2/VB3 (licence unverified) or on the held-out sets.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ITER="${1:-2000}"
DIR="${FORAMEN_SPIDER_DIR:-}"
if [ -z "$DIR" ]; then
  if [ -z "${FORAMEN_SPIDER_GIT:-}" ]; then
    echo "train-discnet: set FORAMEN_SPIDER_DIR (Data/t2_SPACE) or FORAMEN_SPIDER_GIT" >&2
    exit 2
  fi
  DIR="$(mktemp -d)/spider"
  mkdir -p "$DIR"
  git -C "$FORAMEN_SPIDER_GIT" archive HEAD Data/t2_SPACE | tar -x -C "$DIR"
  DIR="$DIR/Data/t2_SPACE"
fi
[ -d "$DIR/images" ] && [ -d "$DIR/masks" ] || { echo "train-discnet: $DIR has no images/ and masks/" >&2; exit 2; }
cd "$ROOT"
cargo run --release --example train_discnet -- "$DIR" "$ITER"
