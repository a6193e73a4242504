#!/usr/bin/env bash
# The GPU checks of issues 3-6 in one run (on a machine with CUDA; weights in $SMIC_HOME):
# MIC fixture and CPU/GPU agreement tests, then the MIC, SMIC and pipeline benchmarks.
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
python3 -c "from smic.mic import _cuda_kernel; print('MIC CUDA kernel:', _cuda_kernel() is not None)"
python3 -m pytest -q -p no:cacheprovider tests/test_mic.py tests/test_gpu.py -k "cuda or gpu" 2>&1 | tail -15
python3 benchmarks/bench_mic.py --device cuda --max-registers 128,96,64
python3 benchmarks/bench_smic.py --device cuda --repeat 5 --batch 32
python3 benchmarks/bench_metrics.py --device cuda --metrics psnr,ssim,lpips,dists,deepwsd,ms_ssim,fsim,vif,nlpd,mad,pieapp
python3 benchmarks/bench_pipeline.py --device cuda --pairs 64 --batch-size 16 --attention none,smic
