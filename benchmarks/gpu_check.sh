#!/usr/bin/env bash
# The GPU checks of issues 3-6 (on a machine with CUDA; weights in $SMIC_HOME), in parts that each
# fit one 10-minute call: `bash benchmarks/gpu_check.sh [tests|mic|smic|rest|all]` (default all).
#   tests: MIC fixture on the CUDA kernel and the tensor engine, DeepWSD columns on CUDA, CPU/GPU agreement of every metric
#   mic:   bench_mic (CUDA kernel against the tensor engine, same run)
#   smic:  bench_smic (throughput against the bare VGG16 pass and the authors' code, with profiles)
#   rest:  bench_metrics and bench_pipeline on the GPU
set -uo pipefail
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
# weights: a carried copy of the cache (smic's resolver needs the network or a cache)
if [ -z "${SMIC_HOME:-}" ] && [ -d .gpu/smic_home ]; then export SMIC_HOME=$PWD/.gpu/smic_home; fi
part=${1:-all}
want() { [ "$part" = all ] || [ "$part" = "$1" ]; }
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
python3 -c "from smic.kernels.cuda_launch import unavailable; print('numba CUDA kernels:', unavailable('MIC') or 'available')"
if want tests; then
    # the MIC fixture builds one kernel per (n, alpha, c) group (11, 10-20 s each on an H200):
    # spread over processes where pytest-xdist is installed
    parallel=(); python3 -c "import xdist" 2>/dev/null && parallel=(-n 6)
    python3 -m pytest -q -p no:cacheprovider "${parallel[@]}" tests/test_mic.py tests/test_wsd_kernel.py -k cuda 2>&1 | tail -15
    python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tail -15
fi
if want mic; then
    python3 benchmarks/bench_mic.py --device cuda --dtype float64
fi
if want smic; then
    # the authors' code beside ours where an out-of-tree copy was carried: .gpu/authors (KANGX99/SMIC
    # smic-pytorch), .gpu/tv_standin (torchvision's VGG16 on our weights; ot.lp.wasserstein_1d through
    # smic's, as POT is not installed there), .gpu/whl (a minepy wheel)
    authors=()
    if [ -d .gpu/authors ] && python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/whl/*.whl; then
        export PYTHONPATH=$PWD/src:/tmp/site SMIC_STANDIN_VGG16=$PWD/.gpu/smic_home/vgg16_imagenet.pth
        authors=(--authors-dir "$PWD/.gpu/authors" --authors-python python3 --authors-path "$PWD/.gpu/tv_standin")
    fi
    python3 benchmarks/bench_smic.py --device cuda --repeat 5 --batch 32 --profile "${authors[@]}"
fi
if want rest; then
    python3 benchmarks/bench_metrics.py --device cuda --metrics psnr,ssim,lpips,dists,deepwsd,ms_ssim,fsim,vif,nlpd,mad,pieapp
    python3 benchmarks/bench_pipeline.py --device cuda --pairs 64 --batch-size 16 --attention none,smic
fi
