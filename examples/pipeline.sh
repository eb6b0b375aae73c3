#!/usr/bin/env bash
# The whole lifecycle from the shell: prepare -> train -> resume -> sample -> interpolate.
# Usage: bash examples/pipeline.sh [WORKDIR]      (CI runs it through tests/examples/test_pipeline.py)
# Tunables: KIMG (default 0.256) and IMAGES (default 2000) keep it short; raise them for real results.
set -euo pipefail
WORK=${1:-pipeline-out}
KIMG=${KIMG:-0.256}
IMAGES=${IMAGES:-2000}
SRC=${SRC:-/usr/share/datasets/fashion-mnist}   # apt-get install dataset-fashion-mnist
mkdir -p "$WORK"
cd "$WORK"

# 1. Real Fashion-MNIST, padded from 28x28 to 32x32 for the DCGAN family.
ganctl prepare-data "$SRC" data/fmnist32 --resolution 32 --policy pad --max-images "$IMAGES"

# 2. Train a class-conditional DCGAN for half the budget; the run directory is printed on stdout.
RUN=$(ganctl train --preset cgan-fashion-mnist --data data/fmnist32 --kimg "$(python3 -c "print($KIMG/2)")" \
      --outdir runs train.tick_kimg=0.064 train.grid_size=16 model.g_channels=16 model.d_channels=16)
echo "run: $RUN"

# 3. Resume it in the same directory up to the full budget.
ganctl resume "$RUN" --kimg "$KIMG"

# 4. Sample: one PNG per seed, and a grid of class 7 (Sneaker) with truncation.
ganctl sample "$RUN" --seeds 0-15 --outdir samples
ganctl sample "$RUN" --seeds 0-15 --class 7 --truncation 0.7 --grid --outdir samples-sneaker

# 5. Interpolate through three seeds and back, as a GIF.
ganctl interpolate "$RUN" --seeds 1,5,9 --steps 8 --loop --out walk.gif

ls "$RUN" samples-sneaker walk.gif
