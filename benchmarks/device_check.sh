#!/usr/bin/env bash
# The GPU checks of `--device cuda`, as one prepared run on a lent GPU machine
# (the device tool: CuPy, PyTorch, NumPy, Pillow, scikit-learn and pytest are
# installed there; nothing can be fetched).
#
#   bash benchmarks/device_check.sh pack   # here: .device/cifar10-jpeg.zip (about 50 MB, ignored by git)
#   bash benchmarks/device_check.sh run    # there, with carry [".device"]; logs into $OUT
#
# `run` does, in order: the GPU tests (tests/test_gpu.py) and the device-path
# tests on the CuPy stand-in; benchmarks/speed.py --device cuda (twolayer vs
# PyTorch on the same GPU: SGD + L2 at hidden 512, 4,096, 8,192 and the gpu
# recipe's step, against PyTorch's fused and default SGD); then the gpu recipe
# end to end on the CIFAR-10 JPEG folder, timed. About 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
pack)
    grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >>.git/info/exclude
    mkdir -p .device
    python3 - <<'EOF'
import zipfile
from pathlib import Path

source = Path("../shared/data/cifar10-jpeg")
with zipfile.ZipFile(".device/cifar10-jpeg.zip", "w", zipfile.ZIP_STORED) as z:  # JPEGs don't compress
    for path in sorted(source.rglob("*.jpg")):
        z.write(path, path.relative_to(source))
EOF
    du -h .device/cifar10-jpeg.zip
    ;;
run)
    OUT=${OUT:-/tmp/device-out}
    mkdir -p "$OUT"
    export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 TWOLAYER_DATA=/tmp/twolayer-data
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
    python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_device.py tests/test_noise.py 2>&1 \
        | tee "$OUT/tests.txt" || echo "GPU tests failed; going on with the benchmarks"
    python3 -c "import zipfile; zipfile.ZipFile('.device/cifar10-jpeg.zip').extractall('/tmp/cifar10-jpeg')"
    python3 benchmarks/speed.py --device cuda --recipe-cifar /tmp/cifar10-jpeg 2>&1 | tee "$OUT/speed.txt"
    ;;
*)
    echo "usage: bash benchmarks/device_check.sh pack|run" >&2
    exit 2
    ;;
esac
