"""Kernels tuned for the CPU (written with xp, so they also run on CUDA)."""
