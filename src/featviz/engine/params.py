"""Parameterizations: trainable variables -> a valid image batch.

The optimizer never sees pixels directly. A parameterization holds how the
trainable array maps to images in the models' input range [0, 1]:

- :func:`pixel`: one variable per pixel, squashed by a sigmoid;
- :func:`fourier`: the image's 2-D spectrum, scaled by 1/f so that low
  frequencies move first (Olah et al. 2017);
- ``decorrelate=True`` (3-channel inputs): the variables live in a
  decorrelated colour space, mapped to RGB by the square root of the colour
  covariance (ImageNet's by default, or :func:`colour_correlation` of a
  dataset);
- :func:`latent`: the latent vector of any Keras generator (for example an
  autoencoder's decoder) so the image stays on the data's manifold;
- :func:`maco`: the Fourier phase only, the magnitude spectrum fixed to a
  dataset's mean (Fel et al. 2023, MAgnitude Constrained Optimization), so the
  image keeps the energy profile of natural images at every frequency.

``from_image`` inverts ``to_image`` where possible, so that regularizers
that edit the image (blur, decay, clipping) can write their result back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from keras import ops

EPS = 1e-4

#: Square root of ImageNet's RGB colour covariance, as used by Lucid, columns normalized.
IMAGENET_COLOUR_SQRT = np.array(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32
)


def colour_correlation(images: np.ndarray) -> np.ndarray:
    """Square root of the RGB covariance of ``images`` (``(N, H, W, 3)``), columns normalized."""
    pixels = np.asarray(images, dtype=np.float64).reshape(-1, 3)
    cov = np.cov(pixels, rowvar=False)
    u, s, _ = np.linalg.svd(cov)
    sqrt = u * np.sqrt(s)
    return (sqrt / np.max(np.linalg.norm(sqrt, axis=0))).astype(np.float32)


@dataclass
class Parameterization:
    """Base class: subclasses define ``shape``, ``init``, ``linear`` and ``from_linear``."""

    decorrelate: bool = False
    colour_matrix: np.ndarray | None = None
    init_std: float = 0.1
    name: str = "pixel"
    _image_shape: tuple[int, int, int] = field(default=(0, 0, 0), repr=False)

    def bind(self, image_shape: tuple[int, int, int]) -> Parameterization:
        """Fix the image shape ``(H, W, C)``; checks the colour option fits it."""
        self._image_shape = tuple(int(s) for s in image_shape)  # type: ignore[assignment]
        if self.decorrelate and self._image_shape[-1] != 3:
            raise ValueError(
                f"Decorrelated colour needs 3-channel images, but the model takes "
                f"{self._image_shape[-1]} channel(s)."
            )
        return self

    # -- subclass interface ----------------------------------------------------------------------
    def shape(self, n: int) -> tuple[int, ...]:
        raise NotImplementedError

    def linear(self, params: Any) -> Any:
        """Parameters -> unsquashed image ``(B, H, W, C)``."""
        raise NotImplementedError

    def from_linear(self, linear: Any) -> Any:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------------
    invertible = True  # from_image() exists, so image-editing regularizers can be used

    def init(self, n: int, seed: int) -> np.ndarray:
        """Start parameters for ``n`` images: small noise, i.e. a grey image with faint noise."""
        rng = np.random.default_rng(seed)
        return rng.normal(0.0, self.init_std, size=self.shape(n)).astype(np.float32)

    def _matrix_np(self) -> np.ndarray:
        m = IMAGENET_COLOUR_SQRT if self.colour_matrix is None else self.colour_matrix
        return np.asarray(m, dtype=np.float32)

    def _matrix(self) -> Any:
        return ops.convert_to_tensor(self._matrix_np())

    def to_image(self, params: Any) -> Any:
        """Parameters -> images in [0, 1]."""
        lin = self.linear(params)
        if self.decorrelate:
            lin = ops.einsum("bhwc,dc->bhwd", lin, self._matrix())
        return ops.sigmoid(lin)

    def from_image(self, image: Any) -> Any:
        """Images in (0, 1) -> parameters (inverse of :meth:`to_image`)."""
        image = ops.clip(image, EPS, 1.0 - EPS)
        lin = ops.log(image) - ops.log(1.0 - image)
        if self.decorrelate:
            inverse = ops.convert_to_tensor(np.linalg.inv(self._matrix_np()).astype(np.float32))
            lin = ops.einsum("bhwd,cd->bhwc", lin, inverse)
        return self.from_linear(lin)


@dataclass
class Pixel(Parameterization):
    def shape(self, n: int) -> tuple[int, ...]:
        return (n, *self._image_shape)

    def linear(self, params: Any) -> Any:
        return params

    def from_linear(self, linear: Any) -> Any:
        return linear


@dataclass
class Fourier(Parameterization):
    """Spectrum ``(B, C, H, W, 2)`` (real, imaginary) scaled by ``1 / f**decay``."""

    decay: float = 1.0
    name: str = "fourier"

    def shape(self, n: int) -> tuple[int, ...]:
        h, w, c = self._image_shape
        return (n, c, h, w, 2)

    def _scale(self) -> tuple[Any, float]:
        h, w, _ = self._image_shape
        fy = np.fft.fftfreq(h)[:, None]
        fx = np.fft.fftfreq(w)[None, :]
        f = np.sqrt(fx**2 + fy**2)
        scale = 1.0 / np.maximum(f, 1.0 / max(h, w)) ** self.decay
        # Normalize so that unit-variance parameters give unit-variance pixels.
        norm = h * w / np.sqrt(np.sum(scale**2))
        return ops.convert_to_tensor(scale.astype(np.float32)), float(norm)

    def linear(self, params: Any) -> Any:
        scale, norm = self._scale()
        real, imag = ops.unstack(params, 2, axis=-1)
        out_real, _ = ops.ifft2((real * scale, imag * scale))
        return ops.transpose(out_real * norm, (0, 2, 3, 1))

    def from_linear(self, linear: Any) -> Any:
        scale, norm = self._scale()
        chw = ops.transpose(linear, (0, 3, 1, 2)) / norm
        real, imag = ops.fft2((chw, ops.zeros_like(chw)))
        return ops.stack([real / scale, imag / scale], axis=-1)


@dataclass
class Latent(Parameterization):
    """The input of a generator model: ``image = generator(latent)``, clipped to [0, 1]."""

    generator: keras.Model | None = None
    name: str = "latent"
    invertible = False

    def bind(self, image_shape: tuple[int, int, int]) -> Parameterization:
        if self.generator is None:
            raise ValueError("latent() needs a generator model.")
        out = tuple(int(s) for s in self.generator.outputs[0].shape[1:])
        if out != tuple(image_shape):
            raise ValueError(
                f"The generator makes images of shape {out}, "
                f"but the model takes {tuple(image_shape)}."
            )
        self._image_shape = out  # type: ignore[assignment]
        return self

    def shape(self, n: int) -> tuple[int, ...]:
        return (n, *(int(s) for s in self.generator.inputs[0].shape[1:]))

    def init(self, n: int, seed: int) -> np.ndarray:
        return np.random.default_rng(seed).normal(0.0, 1.0, size=self.shape(n)).astype(np.float32)

    def to_image(self, params: Any) -> Any:
        return ops.clip(self.generator(params, training=False), 0.0, 1.0)

    def from_image(self, image: Any) -> Any:
        raise ValueError(
            "Regularizers that edit the image (decay, blur, bilateral, clipping) cannot be "
            "written back into a generator's latent space; use penalties (l1, l2, tv) instead."
        )


@dataclass
class Maco(Parameterization):
    """Phases ``(B, C, H, W)``; the image is ``real(ifft2(magnitude * exp(i phase)))``.

    The phase is made Hermitian-symmetric (``phase(-f) = -phase(f)``), so the
    inverse transform is real and its amplitude spectrum is exactly
    ``magnitude``, the dataset's mean amplitude spectrum, DC included (the image's
    mean brightness). The image is clipped to [0, 1] for the model; the
    unclipped one is :meth:`spectral_image`.
    """

    magnitude: np.ndarray | None = None  # (C, H, W), of images in [0, 1]
    name: str = "MACO"
    invertible = False

    def bind(self, image_shape: tuple[int, int, int]) -> Parameterization:
        super().bind(image_shape)
        h, w, c = self._image_shape
        if self.magnitude is None or np.shape(self.magnitude) != (c, h, w):
            got = None if self.magnitude is None else np.shape(self.magnitude)
            raise ValueError(
                f"MACO needs the dataset's amplitude spectrum of shape {(c, h, w)} "
                f"(channels, height, width), got {got}."
            )
        flip_y = (-np.arange(h)) % h
        flip_x = (-np.arange(w)) % w
        self._mirror = (flip_y[:, None] * w + flip_x[None, :]).reshape(-1)
        return self

    def shape(self, n: int) -> tuple[int, ...]:
        h, w, c = self._image_shape
        return (n, c, h, w)

    def init(self, n: int, seed: int) -> np.ndarray:
        """Uniformly random phases: noise with the dataset's spectrum."""
        rng = np.random.default_rng(seed)
        return rng.uniform(-np.pi, np.pi, size=self.shape(n)).astype(np.float32)

    def spectral_image(self, params: Any) -> Any:
        """Phases -> ``(B, H, W, C)`` image whose amplitude spectrum is the fixed magnitude."""
        b, c, h, w = (int(s) for s in params.shape)
        flat = ops.reshape(params, (b, c, h * w))
        mirrored = ops.take(flat, ops.convert_to_tensor(self._mirror), axis=-1)
        phase = ops.reshape(0.5 * (flat - mirrored), (b, c, h, w))
        magnitude = ops.convert_to_tensor(np.asarray(self.magnitude, dtype=np.float32))
        real, _ = ops.ifft2((magnitude * ops.cos(phase), magnitude * ops.sin(phase)))
        return ops.transpose(real, (0, 2, 3, 1))

    def to_image(self, params: Any) -> Any:
        return ops.clip(self.spectral_image(params), 0.0, 1.0)

    def from_image(self, image: Any) -> Any:
        raise ValueError(
            "Regularizers that edit the image (decay, blur, bilateral, clipping) cannot be "
            "written back into MACO's phases; use penalties (l1, l2, tv) instead."
        )


def pixel(
    decorrelate: bool = False, colour_matrix: np.ndarray | None = None, init_std: float = 0.1
) -> Pixel:
    """One variable per pixel (and channel), squashed into [0, 1] by a sigmoid."""
    name = "pixel, decorrelated colour" if decorrelate else "pixel"
    return Pixel(decorrelate=decorrelate, colour_matrix=colour_matrix, init_std=init_std, name=name)


def fourier(
    decay: float = 1.0,
    decorrelate: bool = False,
    colour_matrix: np.ndarray | None = None,
    init_std: float = 0.1,
) -> Fourier:
    """The image's spectrum with 1/f**decay scaling, squashed into [0, 1] by a sigmoid."""
    name = f"Fourier 1/f^{decay:g}" + (", decorrelated colour" if decorrelate else "")
    return Fourier(
        decorrelate=decorrelate,
        colour_matrix=colour_matrix,
        init_std=init_std,
        decay=decay,
        name=name,
    )


def latent(generator: keras.Model) -> Latent:
    """The latent space of ``generator`` (a learned prior); images stay on its manifold."""
    return Latent(generator=generator, name=f"latent of {generator.name}")


def maco(magnitude: np.ndarray) -> Maco:
    """The Fourier phase only, the amplitude spectrum fixed to ``magnitude`` ``(C, H, W)``:
    a dataset's mean amplitude spectrum (:func:`featviz.data.prepare.amplitude_spectrum`)."""
    return Maco(magnitude=np.asarray(magnitude, dtype=np.float32))
