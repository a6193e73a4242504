#!/usr/bin/env bash
# The GPU checks of issues 3-6 (on a machine with CUDA; weights in $SMIC_HOME), in parts that each
# fit one 10-minute call: `bash benchmarks/gpu_check.sh [tests|mic|smic|rest|all]` (default all).
#   tests: MIC fixture on the CUDA kernel and the tensor engine, CPU/GPU agreement of every metric
#   mic:   bench_mic (CUDA kernel under register caps against the tensor engine, same run)
#   smic:  bench_smic (throughput against the bare VGG16 pass, with profiles)
#   rest:  bench_metrics and bench_pipeline on the GPU
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
part=${1:-all}
want() { [ "$part" = all ] || [ "$part" = "$1" ]; }
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
python3 -c "from smic.mic import _cuda_kernel; print('MIC CUDA kernel:', _cuda_kernel() is not None)"
if want tests; then
    python3 -m pytest -q -p no:cacheprovider tests/test_mic_cuda.py tests/test_mic.py tests/test_gpu.py \
        -k "cuda or gpu" 2>&1 | tail -15
fi
if want mic; then
    python3 benchmarks/bench_mic.py --device cuda --dtype float64 --max-registers 128,64
fi
if want smic; then
    python3 benchmarks/bench_smic.py --device cuda --repeat 5 --batch 32 --profile
fi
if want rest; then
    python3 benchmarks/bench_metrics.py --device cuda --metrics psnr,ssim,lpips,dists,deepwsd,ms_ssim,fsim,vif,nlpd,mad,pieapp
    python3 benchmarks/bench_pipeline.py --device cuda --pairs 64 --batch-size 16 --attention none,smic
fi
