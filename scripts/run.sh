#!/usr/bin/env bash
# Set up and run the app on a fresh machine (README "Run it"): one command, no prompts.
#   bash scripts/run.sh            # install what is missing, then serve http://localhost:8501
#   bash scripts/run.sh --port 8600  # arguments go to `streamlit run`
# torch comes from PyTorch's CPU index unless an NVIDIA GPU is visible (nvidia-smi) or the Mac/Windows
# default wheels apply (those are CPU/MPS builds already); set TORCH_INDEX_URL to force an index.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

if ! "$PY" -c "import torch" 2>/dev/null; then
    index="${TORCH_INDEX_URL:-}"
    if [ -z "$index" ] && [ "$(uname -s)" = "Linux" ] && ! command -v nvidia-smi >/dev/null 2>&1; then
        index="https://download.pytorch.org/whl/cpu"  # ~200 MB instead of ~3 GB of CUDA wheels
    fi
    "$PY" -m pip install "torch>=2.1,<3" ${index:+--index-url "$index"}
fi
"$PY" -m pip install -r requirements.txt  # torch is already satisfied: pip keeps the build chosen above
# --server.headless: no first-run e-mail prompt, no browser auto-open that blocks a desktop terminal.
exec "$PY" -m streamlit run app.py --server.headless true --browser.gatherUsageStats false "$@"
