#!/usr/bin/env bash
# Install the test dependencies as CI does (.ci/run), then run the tests (README "Run the tests").
#   bash scripts/install_and_test.sh              # everything; ~11-13 min of pytest on 2 CPU cores
#   bash scripts/install_and_test.sh -m "not e2e"  # arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

if ! "$PY" -c "import torch" 2>/dev/null; then
    index="${TORCH_INDEX_URL:-}"
    if [ -z "$index" ] && [ "$(uname -s)" = "Linux" ] && ! command -v nvidia-smi >/dev/null 2>&1; then
        index="https://download.pytorch.org/whl/cpu"
    fi
    "$PY" -m pip install "torch>=2.1,<3" ${index:+--index-url "$index"}
fi
"$PY" -m pip install -r requirements-dev.txt
# Meta's packages are test oracles only; without --no-deps they would replace the CPU torch.
"$PY" -m pip install "setuptools>=70" wheel
SAM2_BUILD_CUDA=0 "$PY" -m pip install --no-build-isolation --no-deps "sam2==1.1.0"
"$PY" -m pip install --no-deps "sam3==0.1.4" "timm==1.0.31" "pycocotools==2.0.11"
"$PY" -m playwright --version >/dev/null 2>&1 || echo "playwright missing: the browser tests will be skipped" >&2
exec bash scripts/test.sh "$@"
