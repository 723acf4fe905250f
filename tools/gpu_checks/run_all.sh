#!/usr/bin/env bash
# Runs every GPU check on a CUDA machine (the device tool's machine: Python 3.12 with torch and torchvision).
# Wheels of the packages that machine lacks are expected in .whl/ (see the repository README, "GPU checks").
set -u
cd "$(dirname "$0")/../.."
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
for p in packages/*/src apps/src; do PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD/$p"; done
export PYTHONPATH PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
status=0
for check in tools/gpu_checks/*.py; do
  echo "=== $check"
  timeout 240 python3 "$check"
  rc=$?
  echo "=== $check exit $rc"
  [ $rc -eq 0 ] || status=1
done
echo "=== pytest -m gpu"
timeout 240 python3 -m pytest -q -m gpu -p no:cacheprovider -o addopts="--import-mode=importlib" packages apps 2>&1 | tail -15
exit $status
