"""A learned dictionary of a layer's activations: directions the data uses, beside the units.

A layer's units are only the basis of its activation space. A dictionary learned from the
activations themselves gives directions that the data actually combines: each sample (an
image at a dense layer, every position of every image at a conv layer) is approximated as a
sparse, non-negative mix of a few *features*. Two learners:

- ``nmf``: non-negative matrix factorization (scikit-learn's :class:`~sklearn.decomposition.NMF`),
  as CRAFT learns its concepts (Fel et al. 2023): features and codes both non-negative;
- ``sae``: a top-k sparse autoencoder in Keras (Gao et al. 2024): each sample is coded by its
  ``k`` strongest features, and the decoder's rows are the features.

Either way a feature is a unit vector over the layer's channels (a direction), its *codes*
say how much each sample uses it, and the fit is measured by the share of the activations'
variance it explains, how sparse its codes are, and how many features no sample uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from featviz.settings import declared

#: The learners, by the name the config gives them.
METHODS = ("nmf", "sae")
#: The autoencoder's defaults: the schema's (``dictionary.top_k``, ``dictionary.epochs``).
TOP_K, EPOCHS = declared("dictionary.top_k"), declared("dictionary.epochs")


@dataclass(frozen=True)
class Dictionary:
    """A fitted dictionary and how well it fits.

    Attributes:
        features: ``(K, C)`` unit vectors over the layer's channels.
        codes: ``(N, K)`` each fitted sample's coefficients (scaled to the unit vectors).
        explained: share of the samples' variance the reconstruction explains.
        used: ``(K,)`` share of the samples that use each feature (:func:`uses`).
        seconds: time the fit took.
    """

    features: np.ndarray
    codes: np.ndarray
    explained: float
    used: np.ndarray
    seconds: float

    @property
    def sparsity(self) -> float:
        """Share of the codes that are (practically) zero."""
        return float(1.0 - self.used.mean())

    @property
    def dead(self) -> int:
        """Features that no fitted sample uses."""
        return int((self.used == 0).sum())


#: A code counts as used above this share of the largest code of all features: NMF's
#: multiplicative updates leave small positive codes where a sample does not use a feature.
USED = 0.01


def uses(codes: np.ndarray) -> np.ndarray:
    """``(N, K)`` whether each sample uses each feature: a code above :data:`USED` of the
    largest code (none, if every code is zero)."""
    codes = np.asarray(codes)
    top = float(codes.max()) if codes.size else 0.0
    return codes > USED * top if top > 0 else np.zeros(codes.shape, dtype=bool)


def samples_of(acts: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """The rows a dictionary is fitted on: at a conv layer every position of every image is a
    sample (``(N, H, W, C)`` becomes ``(N·H·W, C)``); at most ``limit`` of them, drawn by
    ``seed`` and kept in their order."""
    rows = np.asarray(acts, dtype=np.float32).reshape(-1, acts.shape[-1])
    if len(rows) <= limit:
        return rows
    keep = np.sort(np.random.default_rng(seed).choice(len(rows), limit, replace=False))
    return rows[keep]


def learn(
    samples: np.ndarray,
    features: int,
    method: str,
    seed: int,
    top_k: int = TOP_K,
    epochs: int = EPOCHS,
) -> Dictionary:
    """Fit ``features`` directions to ``samples`` (``(N, C)``, non-negative activations).

    Args:
        samples: the activations, one sample per row (:func:`samples_of`).
        features: how many features to learn.
        method: ``nmf`` or ``sae`` (see the module docstring).
        seed: seeds the fit; on one machine the same seed gives the same dictionary.
        top_k: ``sae`` only: features each sample is coded by.
        epochs: ``sae`` only: passes over the samples.

    Raises:
        ValueError: an unknown method, or fewer samples than features.
    """
    if method not in METHODS:
        raise ValueError(f"dictionary.method: '{method}'; expected one of {', '.join(METHODS)}.")
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) < features:
        raise ValueError(
            f"A dictionary of {features} features needs at least {features} samples, "
            f"got {len(samples)}."
        )
    started = time.perf_counter()
    if method == "nmf":
        codes, atoms = _nmf(samples, features, seed)
    else:
        codes, atoms = _sae(samples, features, seed, min(top_k, features), epochs)
    seconds = time.perf_counter() - started
    # unit-length features, the codes scaled to match: the reconstruction is unchanged
    norms = np.linalg.norm(atoms, axis=1)
    norms[norms == 0] = 1.0
    atoms, codes = atoms / norms[:, None], codes * norms[None, :]
    return Dictionary(
        features=atoms.astype(np.float32),
        codes=codes.astype(np.float32),
        explained=explained_variance(samples, codes @ atoms),
        used=uses(codes).mean(axis=0),
        seconds=seconds,
    )


def explained_variance(samples: np.ndarray, reconstruction: np.ndarray) -> float:
    """``1 - |A - Â|² / |A - mean(A)|²``: the share of the samples' variance kept."""
    total = float(((samples - samples.mean(axis=0)) ** 2).sum())
    if total == 0:
        return float("nan")
    return 1.0 - float(((samples - reconstruction) ** 2).sum()) / total


def _nmf(samples: np.ndarray, features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.decomposition import NMF

    model = NMF(n_components=features, init="nndsvda", random_state=seed, max_iter=500)
    codes = model.fit_transform(np.maximum(samples, 0.0))
    return codes, model.components_


def _sae(
    samples: np.ndarray, features: int, seed: int, top_k: int, epochs: int
) -> tuple[np.ndarray, np.ndarray]:
    """A top-k autoencoder whose decoder has no bias and non-negative weights, so that codes
    times features is the reconstruction, as for NMF; the encoder is ReLU then top-k."""
    import keras

    from featviz.models.train import seed_everything

    seed_everything(seed)
    channels = samples.shape[1]
    scale = float(np.sqrt((samples**2).sum(axis=1).mean())) or 1.0
    x = samples / scale

    class TopK(keras.layers.Layer):
        def call(self, z):
            z = keras.ops.relu(z)
            threshold = keras.ops.top_k(z, top_k)[0][:, -1:]
            return keras.ops.where(z >= threshold, z, 0.0)

    inputs = keras.Input((channels,))
    encoder = keras.layers.Dense(
        features, kernel_initializer=keras.initializers.GlorotUniform(seed)
    )
    codes = TopK()(encoder(inputs))
    decoder = keras.layers.Dense(
        channels,
        use_bias=False,
        kernel_initializer=keras.initializers.RandomUniform(0.0, 1.0, seed + 1),
        kernel_constraint=keras.constraints.NonNeg(),  # non-negative features, as NMF's
    )
    model = keras.Model(inputs, decoder(codes))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(x, x, batch_size=256, epochs=epochs, shuffle=True, verbose=0)
    coder = keras.Model(inputs, codes)
    fitted = np.asarray(coder.predict(x, batch_size=1024, verbose=0), dtype=np.float64)
    atoms = np.asarray(decoder.get_weights()[0], dtype=np.float64)
    return fitted * scale, atoms


def match(planted: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Each planted direction's cosine with the found feature matched to it one to one (the
    assignment that maximizes the total cosine), in the planted order."""
    from scipy.optimize import linear_sum_assignment

    a = planted / np.linalg.norm(planted, axis=1, keepdims=True)
    b = found / np.linalg.norm(found, axis=1, keepdims=True)
    cosine = a @ b.T
    rows, cols = linear_sum_assignment(-cosine)
    return cosine[rows, cols]


def units_spread(features: np.ndarray) -> np.ndarray:
    """How many units each feature spreads over: the participation ratio
    ``(Σ|d|)² / Σd²`` of its direction (1 for a single unit, C for all alike)."""
    d = np.abs(np.asarray(features, dtype=np.float64))
    return (d.sum(axis=1) ** 2) / np.maximum((d**2).sum(axis=1), 1e-12)
