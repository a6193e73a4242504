"""The compiled kernels (numba: CPU and CUDA) and the engines around them: MIC and DeepWSD's
column distances."""
