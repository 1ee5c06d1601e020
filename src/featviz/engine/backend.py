"""What differs between Keras backends: stateless random numbers, the compiled loop and
the gradient of max pooling.

Everything else in the engine is written in ``keras.ops`` and runs on either
backend. Here, one function per backend runs ``n`` optimization steps inside
one compiled program: ``tf.function`` (graph mode, oneDNN kernels) on
TensorFlow, which on CPUs ran our convolutions about twice as fast as XLA,
and ``jax.jit`` over a ``fori_loop`` on JAX, the path for GPUs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import keras
from keras import ops


def name() -> str:
    return keras.backend.backend()


class Rng:
    """Stateless random numbers for one optimization step: a function of (seed, step, draw).

    Draws are per image (the first axis). With ``rows``, the batch is those rows of a
    batch of ``total`` images: each draw is made for all ``total`` and the rows taken, so an
    image gets the same numbers when others leave its batch.
    """

    def __init__(self, seed: int, step: Any, rows: Any = None, total: int | None = None) -> None:
        self.seed = int(seed)
        self.step = step
        self.draws = 0
        self.rows, self.total = rows, total

    def uniform(self, shape: tuple[int, ...], low: float, high: float) -> Any:
        if self.rows is None:
            return self._uniform(shape, low, high)
        full = self._uniform((self.total, *shape[1:]), low, high)
        return ops.take(full, self.rows, axis=0)

    def _uniform(self, shape: tuple[int, ...], low: float, high: float) -> Any:
        self.draws += 1
        if name() == "tensorflow":
            import tensorflow as tf

            step = tf.cast(self.step, tf.int32)
            seed = tf.stack([tf.constant(self.seed, tf.int32), step * 97 + self.draws])
            return tf.random.stateless_uniform(shape, seed=seed, minval=low, maxval=high)
        if name() == "jax":
            import jax

            key = jax.random.fold_in(jax.random.PRNGKey(self.seed), self.step)
            key = jax.random.fold_in(key, self.draws)
            return jax.random.uniform(key, shape, minval=low, maxval=high)
        raise NotImplementedError(
            f"featviz renders on the tensorflow or jax backend, not '{name()}'."
        )


# loss(images, step) -> (scalar to minimize, per-image objective)
ImageLoss = Callable[[Any, Any], tuple[Any, Any]]


def adam(
    params, grad, m, v, t, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
):
    """One Adam update (Kingma & Ba), per element; ``t`` counts from 1."""
    m = beta1 * m + (1.0 - beta1) * grad
    v = beta2 * v + (1.0 - beta2) * ops.square(grad)
    m_hat = m / (1.0 - ops.power(beta1, t))
    v_hat = v / (1.0 - ops.power(beta2, t))
    return params - lr * m_hat / (ops.sqrt(v_hat) + eps), m, v


def compile_loop(
    to_image: Callable,
    image_loss: ImageLoss,
    post: Callable,
    learning_rate: float,
    needs_image_grad: bool = False,
) -> Callable:
    """Return ``run(params, m, v, t, n) -> (params, m, v, t)`` doing ``n`` Adam steps.

    Each step: images = to_image(params); loss and the gradient with respect
    to the images; back through ``to_image`` to the parameters; Adam; then
    ``post(params, images, image_grad, t)`` (image-editing regularizers).
    The gradient with respect to the images is only formed when
    ``needs_image_grad`` (clipping by contribution); otherwise the loss is
    differentiated with respect to the parameters directly and ``post``
    receives ``None``.
    """
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        def step(i, params, m, v, t):
            with tf.GradientTape(
                persistent=needs_image_grad, watch_accessed_variables=False
            ) as tape:
                tape.watch(params)
                images = to_image(params)
                loss, _ = image_loss(images, t)
            if needs_image_grad:
                image_grad = tape.gradient(loss, images)
                grad = tape.gradient(images, params, output_gradients=image_grad)
                del tape
            else:
                image_grad = None
                grad = tape.gradient(loss, params)
            t = t + 1.0
            params, m, v = adam(params, grad, m, v, t, learning_rate)
            params = post(params, images, image_grad, t)
            return i + 1, params, m, v, t

        # No AutoGraph: the loop is written as the while loop it becomes, and converting
        # the Python of every function it calls (the model's layers included) cost about
        # 1.3 s per traced function, in each job's new process.
        @tf.function(reduce_retracing=True, autograph=False)
        def run(params, m, v, t, n):
            _, params, m, v, t = tf.while_loop(
                lambda i, *_: i < n, step, (tf.constant(0, n.dtype), params, m, v, t)
            )
            return params, m, v, t

        return run
    if backend == "jax":
        import jax

        def step(_, carry):
            params, m, v, t = carry
            images, back = jax.vjp(to_image, params)
            if needs_image_grad:
                image_grad = jax.grad(lambda x: image_loss(x, t)[0])(images)
                (grad,) = back(image_grad)
            else:
                image_grad = None
                grad = jax.grad(lambda p: image_loss(to_image(p), t)[0])(params)
            t = t + 1.0
            params, m, v = adam(params, grad, m, v, t, learning_rate)
            params = post(params, images, image_grad, t)
            return params, m, v, t

        @jax.jit
        def run(params, m, v, t, n):
            return jax.lax.fori_loop(0, n, step, (params, m, v, t))

        return run
    raise NotImplementedError(f"featviz renders on the tensorflow or jax backend, not '{backend}'.")


#: The steps from which a render pools by :func:`max_pool`: Eigen's gradient costs about 6 ns
#: a value a step, so a few hundred steps of a batch pay for compiling the routing.
ROUTED_FROM_STEPS = 256


def max_pool(x: Any, size: tuple[int, int], padding: str) -> Any:
    """Max pooling of ``x`` (channels last) over windows of ``size`` that do not overlap
    (strides equal to ``size``), ``padding`` ``"same"`` or ``"valid"``; its gradient goes
    to each window's first maximum in row-major order, as TensorFlow's kernels send it.

    Why: TensorFlow's CPU build swaps its ``MaxPoolGrad`` for oneDNN's only where a graph
    pass reaches the forward op first, and inside the render's while loop the order it
    walks changes from one tracing to the next. Where it missed, Eigen's kernels took 29 of
    a conv3 step's 96 ms (128 images, one thread). Here the gradient is one small XLA
    program, the same numbers at a steady cost (5 ms there), compiled in about 0.2 s for
    each shape (see :data:`ROUTED_FROM_STEPS`). Other backends pool as Keras does.
    """
    if name() != "tensorflow":
        return ops.max_pool(x, size, strides=size, padding=padding)
    import tensorflow as tf

    @tf.custom_gradient
    def pooled(x):
        y = tf.nn.max_pool2d(x, size, size, padding.upper())
        return y, lambda dy: _first_max_routing(x, y, dy, size=tuple(size), same=padding == "same")

    return pooled(x)


def _route_to_first_max(x: Any, y: Any, dy: Any, size: tuple[int, int], same: bool) -> Any:
    """``dy`` (one value per window) placed at each window's first maximum of ``x``."""
    import tensorflow as tf

    (kh, kw), (h, w), (ho, wo) = size, x.shape[1:3], y.shape[1:3]
    # the windows' grid, padded (with -inf, as "same" pads) or cropped to whole windows
    top, left = ((ho * kh - h) // 2, (wo * kw - w) // 2) if same else (0, 0)
    cut = x[:, : ho * kh - top, : wo * kw - left]
    bottom, right = ho * kh - top - cut.shape[1], wo * kw - left - cut.shape[2]
    pads = [[0, 0], [top, bottom], [left, right], [0, 0]]
    grid = tf.pad(cut, pads, constant_values=float("-inf"))
    windows = tf.reshape(grid, [-1, ho, kh, wo, kw, x.shape[3]])
    zero, taken, parts = tf.zeros_like(dy), None, []
    for i in range(kh):
        for j in range(kw):
            hit = tf.equal(windows[:, :, i, :, j], y)
            first = hit if taken is None else tf.logical_and(hit, tf.logical_not(taken))
            taken = hit if taken is None else tf.logical_or(taken, hit)
            parts.append(tf.where(first, dy, zero))
    rows = [tf.stack(parts[i * kw : (i + 1) * kw], axis=3) for i in range(kh)]
    routed = tf.reshape(tf.stack(rows, axis=2), [-1, ho * kh, wo * kw, x.shape[3]])
    routed = routed[:, top : top + cut.shape[1], left : left + cut.shape[2]]
    return tf.pad(routed, [[0, 0], [0, h - cut.shape[1]], [0, w - cut.shape[2]], [0, 0]])


@functools.cache
def _compiled_routing() -> Callable:
    """:func:`_route_to_first_max` compiled by XLA (one program per shape, kept)."""
    import tensorflow as tf

    return tf.function(_route_to_first_max, jit_compile=True, autograph=False)


def _first_max_routing(x: Any, y: Any, dy: Any, size: tuple[int, int], same: bool) -> Any:
    return _compiled_routing()(x, y, dy, size=size, same=same)


def compile_eval(fn: Callable) -> Callable:
    """Compile a pure function of tensors for the backend (graph mode or jit)."""
    if name() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=True, autograph=False)
    if name() == "jax":
        import jax

        return jax.jit(fn)
    return fn
