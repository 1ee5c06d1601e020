#!/usr/bin/env bash
# Build benchmarks/.venv-xplique: Xplique 2.0.2, the second peer of benchmarks/job_speed.py.
#
# Xplique pins TensorFlow <= 2.20, older than featviz's, so it gets its own environment and
# runs in a subprocess (benchmarks/xplique_peer.py). Its wheel asks for tensorflow[and-cuda]
# on Linux, opencv-python and ruff; none is needed to render on a CPU, so Xplique itself is
# installed without dependencies and the ones it imports are listed here, with the headless
# OpenCV build. Usage: bash benchmarks/xplique_env.sh [python3]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-python3}
VENV=benchmarks/.venv-xplique
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet \
    tensorflow==2.20.0 'tf-keras==2.20.*' tensorflow-probability==0.25.0 \
    opencv-python-headless deprecated einops matplotlib \
    'scikit-image<=0.25.2' 'scikit-learn<=1.7.2' 'scipy<=1.15.3'
"$VENV/bin/python" -m pip install --quiet --no-deps xplique==2.0.2
"$VENV/bin/python" -c "import xplique, tensorflow as tf; print('xplique', xplique.__version__, 'tensorflow', tf.__version__)"
touch "$VENV/.installed"
