"""CUDA fast paths: CuPy ``ElementwiseKernel``s, built when the 'cuda' backend first needs
them (checked against their generic versions by :mod:`minigrad.kernels.elementwise`)."""
from __future__ import annotations

__all__ = ["elementwise_kernels"]


def elementwise_kernels(cupy) -> dict:
    """{name: kernel} for the 'cuda' backend, from the ``cupy`` module."""
    relu_grad = cupy.ElementwiseKernel(
        "T gy, T y", "T gx", "gx = y > (T)0 ? gy : (T)0", "minigrad_relu_grad")
    adam = cupy.ElementwiseKernel(
        "T g, T b1, T b2, T lr_c1, T c2inv, T eps", "T p, T m, T v",
        """m = b1 * m + ((T)1 - b1) * g;
           v = b2 * v + ((T)1 - b2) * g * g;
           p -= lr_c1 * m / (sqrt(v * c2inv) + eps);""",
        "minigrad_adam_step")

    def adam_step(p, g, m, v, b1, b2, lr_c1, c2inv, eps):
        adam(g, b1, b2, lr_c1, c2inv, eps, p, m, v)
    return {"relu_grad": lambda gy, y: relu_grad(gy, y), "adam_step": adam_step}
