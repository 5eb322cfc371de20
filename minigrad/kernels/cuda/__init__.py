"""CUDA fast paths: CuPy ``ElementwiseKernel``s and ``ReductionKernel``s (and the sum over
rows as a cuBLAS matrix-vector product), built when the 'cuda' backend first needs them
(checked against their generic versions by :mod:`minigrad.kernels.elementwise`)."""
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

    gelu = cupy.ElementwiseKernel(
        "T x, T k, T c", "T y, T t",
        """t = tanh(k * (x + c * x * x * x));
           y = (T)0.5 * x * ((T)1 + t);""",
        "minigrad_gelu_tanh")
    gelu_grad = cupy.ElementwiseKernel(
        "T gy, T x, T t, T k, T c", "T gx",
        """gx = gy * (T)0.5 * ((T)1 + t + x * ((T)1 - t * t) * k * ((T)1 + (T)3 * c * x * x));""",
        "minigrad_gelu_tanh_grad")

    # layer normalisation of rows: the mean, the sum of the centred squares and the
    # normalised values each one launch (the generic version takes seven); the gradient
    # two row reductions and one elementwise launch (eight)
    centred_squares = cupy.ReductionKernel(
        "T x, T mean", "T q", "(x - mean) * (x - mean)", "a + b", "q = a", "0",
        "minigrad_centred_squares")
    inv_std = cupy.ElementwiseKernel(
        "T q, T n, T eps", "T inv", "inv = (T)1 / sqrt(q / n + eps)", "minigrad_inv_std")
    normalise = cupy.ElementwiseKernel(
        "T x, T mean, T inv", "T xhat", "xhat = (x - mean) * inv", "minigrad_normalise")
    row_dot = cupy.ReductionKernel(
        "T g, T xhat", "T s", "g * xhat", "a + b", "s = a", "0", "minigrad_row_dot")
    norm_grad = cupy.ElementwiseKernel(
        "T g, T xhat, T inv, T gsum, T dsum, T n", "T gx",
        "gx = inv * (g - gsum / n - xhat * (dsum / n))", "minigrad_layer_norm_grad")

    # softmax of rows: the row maximum, a ReductionKernel of the exponentials and one
    # elementwise launch (five launches generic); the gradient a row reduction and one
    # elementwise launch (four)
    exp_sum = cupy.ReductionKernel(
        "T x, T m", "T s", "exp(x - m)", "a + b", "s = a", "0", "minigrad_exp_sum")
    softmax = cupy.ElementwiseKernel(
        "T x, T m, T s", "T y", "y = exp(x - m) / s", "minigrad_softmax")
    softmax_grad = cupy.ElementwiseKernel(
        "T gy, T y, T d", "T gx", "gx = y * (gy - d)", "minigrad_softmax_grad")

    def softmax_rows(x):
        m = x.max(axis=1, keepdims=True)
        return softmax(x, m, exp_sum(x, m, axis=1, keepdims=True))

    def softmax_rows_grad(gy, y):
        return softmax_grad(gy, y, row_dot(gy, y, axis=1, keepdims=True))

    def layer_norm(x, eps):
        n = x.dtype.type(x.shape[1])
        mean = x.mean(axis=1, keepdims=True)
        inv = inv_std(centred_squares(x, mean, axis=1, keepdims=True), n, x.dtype.type(eps))
        return normalise(x, mean, inv), inv

    def layer_norm_grad(g, xhat, inv):
        n = g.dtype.type(g.shape[1])
        return norm_grad(g, xhat, inv, g.sum(axis=1, keepdims=True),
                         row_dot(g, xhat, axis=1, keepdims=True), n)

    def adam_step(p, g, m, v, b1, b2, lr_c1, c2inv, eps):
        adam(g, b1, b2, lr_c1, c2inv, eps, p, m, v)

    def sum_rows(a):
        # ones (1, N) @ a (N, D): a matrix-vector product that cuBLAS streams at memory
        # speed (a reduction over the first axis reads down the columns)
        return cupy.ones(a.shape[0], dtype=a.dtype) @ a
    return {"relu_grad": lambda gy, y: relu_grad(gy, y), "adam_step": adam_step,
            "gelu_tanh": lambda x, k, c: gelu(x, x.dtype.type(k), x.dtype.type(c)),
            "gelu_tanh_grad": lambda gy, x, t, k, c: gelu_grad(gy, x, t, x.dtype.type(k),
                                                             x.dtype.type(c)),
            "sum_rows": sum_rows, "layer_norm": layer_norm,
            "layer_norm_grad": layer_norm_grad, "softmax_rows": softmax_rows,
            "softmax_rows_grad": softmax_rows_grad}
