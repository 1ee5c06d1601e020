"""The render loop: optimize a batch of images, one objective each, in one compiled step.

The loop knows nothing about particular objectives. It asks the batch which
layers it reads and builds read-out weights per layer and kind
(:mod:`~featviz.engine.objectives`), computes only what those read-outs need
(:mod:`~featviz.engine.slicing`), and runs Adam on the parameterization's
variables inside one compiled program (:mod:`~featviz.engine.backend`),
``trace_every`` steps per call. Objectives are processed in chunks of
``batch_size``, so memory is bounded by the batch and flat in the number of
steps.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from keras import ops

from featviz.engine import backend
from featviz.engine.objectives import Objective
from featviz.engine.params import Parameterization, pixel
from featviz.engine.regularizers import Regularizer
from featviz.engine.slicing import Reader, plan_slice, stepping_clone
from featviz.engine.starts import Start, exemplar_picks
from featviz.engine.transforms import Transform, center_crop
from featviz.errors import FeatvizError
from featviz.models.probe import layer_table, sub_model
from featviz.plateau import Plateau
from featviz.progress import bar
from featviz.settings import declared

#: The library's defaults are the schema's: the filters study's budget, the shared optimizer.
STEPS, BATCH_SIZE = declared("filters.steps"), declared("filters.batch_size")
LEARNING_RATE, SEED = declared("$defs.optimizer.learning_rate"), declared("$defs.optimizer.seed")

#: How the steps get past ReLUs that are off (see :func:`render`).
RELU_GRADIENTS = ("plain", "pre_activation", "redirected")


class RenderError(FeatvizError, RuntimeError):
    """Optimization produced a non-finite value."""


@dataclass
class StartWatch:
    """Render calls made while :func:`watch_starts` was active, and how many objectives
    ended below their start value (an optimization that went the wrong way)."""

    calls: int = 0
    objectives: int = 0
    below_start: list[str] = field(default_factory=list)


_watches: list[StartWatch] = []


@contextlib.contextmanager
def watch_starts() -> Iterator[StartWatch]:
    """Count, over the render calls the block makes, the objectives that ended below their
    start value (each call also names them on stderr): a study job reports the count."""
    watch = StartWatch()
    _watches.append(watch)
    try:
        yield watch
    finally:
        _watches.remove(watch)


def _report_below_start(names: Sequence[str], start: np.ndarray, final: np.ndarray) -> None:
    """Warn (stderr) about objectives whose final value is below their start value."""
    below = np.flatnonzero(np.isfinite(start) & np.isfinite(final) & (final < start))
    for watch in _watches:
        watch.calls += 1
        watch.objectives += len(names)
        watch.below_start.extend(names[i] for i in below)
    if len(below):
        shown = list(dict.fromkeys(names[i] for i in below))
        more = f" and {len(shown) - 8} more" if len(shown) > 8 else ""
        worst = int(below[np.argmax(start[below] - final[below])])
        print(
            f"warning: {len(below)} of {len(names)} objectives ended below their start value "
            f"(expected each to rise): {', '.join(shown[:8])}{more}; worst {names[worst]} "
            f"from {start[worst]:.4g} to {final[worst]:.4g}.",
            file=sys.stderr,
        )


@dataclass(frozen=True)
class RenderResult:
    """Images and objective values of one render call.

    Attributes:
        images: ``(N, H, W, C)`` float32 images in the model's input range [0, 1].
        values: ``(N,)`` final value of each objective on its (untransformed) image.
        trace_steps: ``(T,)`` steps at which the objectives were recorded (0 and ``steps``
            included).
        traces: ``(N, T)`` each objective's value on its untransformed image at those steps.
        names: the objectives' names.
        activations: per layer read, the final images' activations averaged over
            positions, ``(N, C)``.
        stopped: ``(N,)`` the steps each objective ran: ``steps``, or fewer where it
            stopped at its plateau (``until``); its trace is NaN after that.
    """

    images: np.ndarray
    values: np.ndarray
    trace_steps: np.ndarray
    traces: np.ndarray
    names: list[str]
    activations: dict[str, np.ndarray] = field(default_factory=dict)
    stopped: np.ndarray | None = None


@dataclass(frozen=True)
class Variant:
    """Transforms and regularizers for a group of the images of one render call.

    Images of different variants share the parameterization and the compiled
    step: a penalty is weighted per image (zero where a variant lacks it), an
    image edit and a transform are applied to the batch and kept per image.
    """

    transforms: Transform | None = None
    regularizers: tuple[Regularizer, ...] = ()


def check_objectives(model: keras.Model, objectives: Sequence[Objective]) -> None:
    """Check that every layer exists and every index and position is in range.

    Raises:
        ValueError: naming the objective, what was received and what is valid.
    """
    valid = layer_table(model).readable()
    for objective in objectives:
        for _, term in objective.terms:
            if term.layer not in valid:
                raise ValueError(
                    f"Objective '{objective.name}': unknown layer '{term.layer}'. "
                    f"Layers with activations: {', '.join(valid)}."
                )
            shape = model.get_layer(term.layer).output.shape
            n = int(shape[-1])
            if term.index is not None and not 0 <= term.index < n:
                raise ValueError(
                    f"Objective '{objective.name}': index {term.index} out of range for layer "
                    f"'{term.layer}', which has {n} channels (valid: 0..{n - 1})."
                )
            if term.kind == "neuron":
                if len(shape) != 4:
                    raise ValueError(
                        f"Objective '{objective.name}': layer '{term.layer}' has no "
                        "spatial positions; use unit() for dense layers."
                    )
                h, w = int(shape[1]), int(shape[2])
                y, x = term.position or (h // 2, w // 2)
                if not (0 <= y < h and 0 <= x < w):
                    raise ValueError(
                        f"Objective '{objective.name}': position ({y}, {x}) outside layer "
                        f"'{term.layer}', whose maps are {h}x{w} (valid: 0..{h - 1}, 0..{w - 1})."
                    )
            term.weights(n)  # checks a direction's length


class _Readout:
    """Per-layer read-out weights of one chunk, and their evaluation on activations."""

    def __init__(self, model: keras.Model, chunk: Sequence[Objective], sliced) -> None:
        self.layers = list(dict.fromkeys(layer for o in chunk for layer in o.layers))
        self.sliced = sliced
        b = len(chunk)
        groups = np.array([hash(o) for o in chunk])
        same = (groups[:, None] == groups[None, :]) & ~np.eye(b, dtype=bool)
        self.same_group = ops.convert_to_tensor(same.astype(np.float32))
        self.parts: dict[str, dict[str, Any]] = {}
        for layer in self.layers:
            shape = tuple(int(s) for s in model.get_layer(layer).output.shape[1:])
            n = shape[-1]
            mean = np.zeros((b, n), np.float32)
            prob = np.zeros((b, n), np.float32)
            spatial = np.zeros((b, *shape), np.float32) if len(shape) == 3 else None
            div = np.zeros((b,), np.float32)
            used = {"mean": False, "probability": False, "neuron": False, "diversity": False}
            for i, objective in enumerate(chunk):
                for weight, term in objective.terms:
                    if term.layer != layer:
                        continue
                    used[term.kind] = True
                    if term.kind == "mean":
                        mean[i] += weight * term.weights(n)
                    elif term.kind == "probability":
                        prob[i] += weight * term.weights(n)
                    elif term.kind == "neuron":
                        y, x = term.position or (shape[0] // 2, shape[1] // 2)
                        spatial[i, y, x, term.index] += weight
                    else:
                        div[i] += weight
            if sliced is not None and layer == sliced.layer:
                mean = mean[np.arange(b), sliced.channels][:, None]
            part = {}
            if used["mean"]:
                part["mean"] = ops.convert_to_tensor(mean)
            if used["probability"]:
                part["probability"] = ops.convert_to_tensor(prob)
            if used["neuron"]:
                part["neuron"] = ops.convert_to_tensor(spatial)
            if used["diversity"]:
                part["diversity"] = ops.convert_to_tensor(div)
            self.parts[layer] = part

    def __call__(self, acts: dict[str, Any], peak: bool = False) -> Any:
        """Each image's objective on ``acts``. With ``peak``, a mean over positions reads
        the largest value instead, over the number of positions: on pre-activations, the
        climb that turns a unit on where it is closest, and that meets the mean of the
        ReLU's output where a single position turns on."""
        total = None
        for layer, part in self.parts.items():
            a = acts[layer]
            spatial_axes = list(range(1, len(a.shape) - 1))
            terms = []
            if "mean" in part:
                reduced = ops.mean(a, axis=spatial_axes) if spatial_axes else a
                if peak and spatial_axes:
                    positions = float(np.prod([int(a.shape[i]) for i in spatial_axes]))
                    reduced = ops.max(a, axis=spatial_axes) / positions
                terms.append(ops.sum(reduced * part["mean"], axis=-1))
            if "probability" in part:
                terms.append(ops.sum(ops.softmax(a, axis=-1) * part["probability"], axis=-1))
            if "neuron" in part:
                terms.append(ops.sum(ops.reshape(a * part["neuron"], (a.shape[0], -1)), axis=-1))
            if "diversity" in part:
                terms.append(part["diversity"] * self._diversity(a))
            for t in terms:
                total = t if total is None else total + t
        return total

    def _diversity(self, a: Any) -> Any:
        """Minus the mean cosine similarity of this image's Gram matrix to its group's."""
        b, c = a.shape[0], a.shape[-1]
        flat = ops.reshape(a, (b, -1, c))
        gram = ops.reshape(ops.einsum("bpc,bpd->bcd", flat, flat), (b, c * c))
        gram = gram / (ops.norm(gram, axis=-1, keepdims=True) + 1e-8)
        sim = ops.matmul(gram, ops.transpose(gram))
        count = ops.maximum(ops.sum(self.same_group, axis=-1), 1.0)
        return -ops.sum(sim * self.same_group, axis=-1) / count


def evaluate(
    model: keras.Model,
    objectives: Sequence[Objective],
    images: np.ndarray,
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Each objective's value on its own image, untransformed: ``objectives[i]`` on ``images[i]``.

    The measure "activation reached" of a visualization, and the same read-out
    the render loop records, computed in batches.
    """
    if len(objectives) != len(images):
        raise ValueError(f"{len(objectives)} objectives but {len(images)} images.")
    check_objectives(model, objectives)
    values = []
    for lo in range(0, len(objectives), batch_size):
        chunk = list(objectives[lo : lo + batch_size])
        layers = list(dict.fromkeys(layer for o in chunk for layer in o.layers))
        sliced = plan_slice(model, chunk, layers)
        reader, readout = Reader(model, layers, sliced), _Readout(model, chunk, sliced)
        batch = ops.convert_to_tensor(np.asarray(images[lo : lo + len(chunk)], dtype=np.float32))
        values.append(ops.convert_to_numpy(readout(reader(batch))))
    return np.concatenate(values).astype(np.float32)


#: What :func:`pool_scores` read from one pool of one model (``"on"``: the model and the
#: pool, held as the same objects): each read-out (layer, kind, position) of every pool image.
#: The ablation renders the same units under recipe after recipe from the same pool of start
#: images (the house-numbers demo ablation scored its pool 15 times, 73 of its 274 s), and
#: the recommended study renders a large layer in runs that read the same layer; another model
#: or pool replaces them, so no more than one pool is ever held.
_POOL: dict[str, Any] = {"on": None, "features": {}}


def pool_scores(
    model: keras.Model, objectives: Sequence[Objective], images: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """``(len(objectives), len(images))``: every objective's value on every image, from one
    pass of the images through the layers the objectives read (diversity terms count 0).

    Each read-out of the same pool (the same array) of the same model is computed once per
    process, whatever objectives later weigh it."""
    on = _POOL["on"]
    if on is None or on[0] is not model or on[1] is not images:
        _POOL["on"], _POOL["features"] = (model, images), {}
    # one weight matrix per read-out (layer, kind, position): objectives x channels
    weights: dict[tuple, np.ndarray] = {}
    for i, objective in enumerate(objectives):
        for weight, term in objective.terms:
            if term.kind == "diversity":
                continue
            n = int(model.get_layer(term.layer).output.shape[-1])
            key = (term.layer, term.kind, term.position if term.kind == "neuron" else None)
            w = weights.setdefault(key, np.zeros((len(objectives), n), np.float64))
            w[i] += weight * term.weights(n)
    features = _POOL["features"]
    missing = [key for key in weights if key not in features]
    if missing:
        features.update(_pool_features(model, missing, images, batch_size))
    out = np.zeros((len(objectives), len(images)), dtype=np.float64)
    for lo in range(0, len(images), batch_size):
        for key, w in weights.items():
            out[:, lo : lo + batch_size] += w @ features[key][lo : lo + batch_size].T
    return out


def _pool_features(
    model: keras.Model, readouts: Sequence[tuple], images: np.ndarray, batch_size: int
) -> dict[tuple, np.ndarray]:
    """Each read-out ``(layer, kind, position)`` of every image, ``(len(images), channels)``
    in float64, from one compiled pass through the layers they read."""
    layers = list(dict.fromkeys(layer for layer, _, _ in readouts))
    read = backend.compile_eval(Reader(model, layers, None))
    parts: dict[tuple, list[np.ndarray]] = {key: [] for key in readouts}
    for lo in range(0, len(images), batch_size):
        batch = ops.convert_to_tensor(np.asarray(images[lo : lo + batch_size], np.float32))
        acts = {k: ops.convert_to_numpy(v).astype(np.float64) for k, v in read(batch).items()}
        for layer, kind, position in readouts:
            a = acts[layer]
            if kind == "neuron":
                y, x = position or (a.shape[1] // 2, a.shape[2] // 2)
                a = a[:, y, x]
            elif kind == "probability":
                a = np.exp(a - a.max(axis=-1, keepdims=True))
                a = a / a.sum(axis=-1, keepdims=True)
            elif a.ndim > 2:
                a = a.mean(axis=tuple(range(1, a.ndim - 1)))
            parts[(layer, kind, position)].append(a)
    return {key: np.concatenate(part) for key, part in parts.items()}


def batch_rows(count: int, batch_size: int, batches: slice | None = None) -> list[int]:
    """The objectives (their indices, in order) that ``batches`` of a call's batches of
    ``batch_size`` hold, out of ``count``; every objective where ``batches`` is None."""
    firsts = range(0, count, batch_size)[batches or slice(None)]
    return [i for lo in firsts for i in range(lo, min(lo + batch_size, count))]


def render(
    model: keras.Model,
    objectives: Sequence[Objective],
    *,
    param: Parameterization | None = None,
    transforms: Transform | None = None,
    regularizers: Sequence[Regularizer] = (),
    variants: Sequence[Variant] | None = None,
    variant_of: Sequence[int] | None = None,
    steps: int = STEPS,
    until: Plateau | None = None,
    learning_rate: float = LEARNING_RATE,
    seed: int = SEED,
    batch_size: int = BATCH_SIZE,
    trace_every: int | None = None,
    progress: bool = True,
    slice_channels: bool = True,
    start: Start | None = None,
    relu_gradient: str = "plain",
    precision: str = "float32",
    batches: slice | None = None,
) -> RenderResult:
    """Maximize each objective on its own image, all of them batched.

    Args:
        model: any Keras 3 model with one image input (grey or colour, any size).
        objectives: one objective per image (repeat one to get restarts).
        param: how images are parameterized (default :func:`~featviz.engine.params.pixel`).
        transforms: random transforms applied before each step (default none).
        regularizers: penalties and image edits, combinable.
        variants: instead of ``transforms`` and ``regularizers``, several
            :class:`Variant` s, image ``i`` rendered with ``variants[variant_of[i]]``:
            settings that share a parameterization run as one batch.
        variant_of: the variant of each objective (with ``variants``).
        steps: Adam steps per image (the ceiling, with ``until``).
        until: stop each objective as soon as it has plateaued by this criterion
            (:class:`~featviz.plateau.Plateau`, checked every ``until.every`` steps), and
            drop it from the compiled batch once the stopped ones are a quarter of it;
            ``steps`` is then the most one runs. Objectives tied by a term across
            images (diversity) stop together, when all have plateaued.
        learning_rate: Adam's step size on the parameters.
        seed: seeds the start images and the transforms: the same seed gives
            bitwise-equal images on the same machine.
        batch_size: objectives optimized together; bounds memory.
        trace_every: record the objectives every this many steps (default:
            16 records per run, or ``until.every``; each record is one forward pass
            and one return to Python, so fewer records run faster).
        progress: show a progress bar (rate and time left) on stderr.
        slice_channels: compute only the channels the batch reads at its
            deepest layer, where that is exact (see :mod:`featviz.engine.slicing`).
        start: where the images begin (:class:`~featviz.engine.starts.Start`; default
            the parameterization's own start, faint noise around grey). A parameterization
            that cannot be inverted always begins from its own start.
        relu_gradient: how the steps get past ReLUs that are off (no gradient):
            ``plain`` (they do not: the seed's), ``pre_activation`` (while an image's
            objective is zero because the units it reads are off, climb their
            pre-activation where it is highest, until they turn on) or ``redirected`` (Lucid's
            redirected ReLU in every layer: where an image's ReLU passes no gradient, it
            passes it anyway unless that pushes a negative input lower). The values
            recorded are always the objective itself.
        precision: the arithmetic of the steps' forward and backward passes: ``float32``
            or ``bfloat16`` (Keras' ``mixed_bfloat16`` policy on a copy of the model: the
            weights and everything after the last layer read stay float32). bfloat16 runs
            the convolutions several times faster on CPUs with AMX or AVX-512 BF16 units and
            on GPUs, and slower elsewhere; the images then differ from float32's (and between
            such machines), while the values recorded, the plateau and the start are still
            computed in float32.
        batches: only these of the call's batches (of ``batch_size`` objectives, in order),
            each rendered exactly as the whole call renders it: the start images are drawn
            for every objective and each batch is seeded by where it begins, so a call
            split across processes gives the whole call's images, bit for bit. The result
            holds the objectives of these batches.

    Returns:
        A :class:`RenderResult`.

    Raises:
        ValueError: an unknown layer, an index or position out of range, a
            parameterization that does not fit the model.
        RenderError: a NaN or Inf appeared; names the objectives and the step.
    """
    if not objectives:
        raise ValueError("render() needs at least one objective.")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}.")
    check_objectives(model, objectives)
    if relu_gradient not in RELU_GRADIENTS:
        raise ValueError(
            f"relu_gradient '{relu_gradient}': expected one of {', '.join(RELU_GRADIENTS)}."
        )
    # the model the steps climb, where it is not the model itself
    stepper = stepping_clone(
        model, relu_gradient == "redirected", precision, steps >= backend.ROUTED_FROM_STEPS
    )
    if variants is None:
        variants, variant_of = [Variant(transforms, tuple(regularizers))], [0] * len(objectives)
    elif transforms is not None or regularizers:
        raise ValueError("Give transforms and regularizers inside the variants, not beside them.")
    variant_of = np.asarray(variant_of if variant_of is not None else [], dtype=np.int64)
    if (
        variant_of.shape != (len(objectives),)
        or not ((variant_of >= 0) & (variant_of < len(variants))).all()
    ):
        raise ValueError(
            f"variant_of must give each of the {len(objectives)} objectives a variant in "
            f"0..{len(variants) - 1}, got {variant_of.tolist()}."
        )
    image_shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    param = (param or pixel()).bind(image_shape)
    edits = [r.name for v in variants for r in v.regularizers if not r.is_penalty]
    if edits and not param.invertible:
        raise ValueError(
            f"Regularizers that edit the image ({', '.join(dict.fromkeys(edits))}) "
            f"need a parameterization they can write back into; '{param.name}' cannot. "
            "Use penalties (l1, l2, total_variation) instead."
        )
    side = min(image_shape[:2])
    for r in (r for v in variants for r in v.regularizers):
        if r.reach >= side:
            raise ValueError(
                f"Regularizer {r.name} reads {r.reach} pixels to each side of a pixel, but "
                f"the model's images are {image_shape[0]}x{image_shape[1]}; expected a reach "
                f"below {side} (a smaller {r.reach_setting or 'setting'})."
            )
    trace_every = trace_every or (until.every if until else max(1, steps // 16))
    record_steps = np.array(sorted(set(range(0, steps, trace_every)) | {steps}), dtype=np.int64)
    # One draw for all images, so an image does not depend on the chunk it lands in.
    start = start or Start()
    picks = None
    if start.kind == "exemplars" and param.invertible:
        distinct = list(dict.fromkeys(objectives))
        which = np.array([distinct.index(o) for o in objectives])
        picks = exemplar_picks(pool_scores(model, distinct, start.pool), which)
    first = start.images(len(objectives), seed, image_shape, picks)
    start_params = param.init(len(objectives), seed)
    if first is not None and param.invertible:
        # objectives without an exemplar (picks -1: dead units) keep the parameterization's start
        own = np.ones(len(objectives), bool) if picks is None else np.asarray(picks) >= 0
        given = ops.convert_to_numpy(param.from_image(ops.convert_to_tensor(first[own])))
        start_params[own] = np.asarray(given, dtype=np.float32)

    images, values, traces, stopped = [], [], [], []
    activations: dict[str, list[np.ndarray]] = {}
    rows = batch_rows(len(objectives), batch_size, batches)
    if not rows:
        raise ValueError(
            f"batches {batches} selects none of the {-(-len(objectives) // batch_size)} "
            f"batches of {batch_size} objectives; expected a slice that keeps one at least."
        )
    with bar(len(rows) * steps, desc="render", unit="img·step", disable=not progress) as pbar:
        for lo in (i for i in rows if i % batch_size == 0):  # where each batch begins
            chunk = list(objectives[lo : lo + batch_size])
            out = _render_chunk(
                model,
                chunk,
                start_params[lo : lo + len(chunk)],
                param,
                variants,
                variant_of[lo : lo + len(chunk)],
                record_steps,
                until,
                learning_rate,
                seed + lo,
                slice_channels,
                relu_gradient,
                stepper,
                pbar,
            )
            images.append(out[0])
            values.append(out[1])
            traces.append(out[2])
            stopped.append(out[4])
            for layer, act in out[3].items():
                activations.setdefault(layer, []).append(act)
    names = [objectives[i].name for i in rows]
    traces, values = np.concatenate(traces), np.concatenate(values)
    _report_below_start(names, traces[:, 0], values)
    return RenderResult(
        images=np.concatenate(images),
        values=values,
        trace_steps=record_steps,
        traces=traces,
        names=names,
        activations={k: np.concatenate(v) for k, v in activations.items()},
        stopped=np.concatenate(stopped),
    )


class _Program:
    """The compiled steps and read-out for one batch of objectives: rebuilt for the
    objectives still running when others have stopped at their plateau."""

    def __init__(
        self,
        model,
        objectives,
        param,
        variants,
        variant_of,
        learning_rate,
        seed,
        slice_channels,
        climb="plain",
        stepper=None,
        starts=None,
        rows=None,
        total=None,
    ):
        layers = list(dict.fromkeys(layer for o in objectives for layer in o.layers))
        sliced = plan_slice(model, objectives, layers) if slice_channels else None
        pre_activation = climb == "pre_activation"
        reader = Reader(model, layers, sliced, pre_activation)
        # redirected ReLU gradients, another precision or max pooling at a steady cost (on
        # TensorFlow): the steps climb a copy of the model
        climber = reader if stepper is None else Reader(stepper, layers, sliced, pre_activation)
        readout = _Readout(model, objectives, sliced)
        self.ties = "diversity" in {k for part in readout.parts.values() for k in part}
        height, width = (int(s) for s in model.inputs[0].shape[1:3])
        used = sorted(set(variant_of.tolist()))
        mix = _Single(variants[used[0]]) if len(used) == 1 else _Mixed(variants, variant_of)
        edits = mix.edits

        def evaluate(images):
            return readout(reader(images))

        def ascended(images):
            """The objective the steps climb: with ``pre_activation``, an image whose
            objective is zero because its ReLU units are off climbs the same read-out
            of their pre-activations instead, until they turn on."""
            if not pre_activation:
                return readout(climber(images))
            acts, pre = climber.both(images)
            value, linear = readout(acts), readout(pre, peak=True)
            off = ops.logical_and(ops.equal(value, 0.0), ops.less(linear, 0.0))
            return ops.where(off, linear, value)

        # the random transforms of the images left in a compacted batch: their own rows
        # of the whole chunk's draws, as before it was compacted
        picked = None if rows is None else ops.convert_to_tensor(np.asarray(rows, np.int32))

        anchors = (
            _Below(model, objectives, starts)
            if any(r.space == "features" for v in variants for r in v.regularizers)
            else None
        )

        def image_loss(images, t):
            seen = mix.transform(images, backend.Rng(seed, t, picked, total), height, width)
            objective = ascended(seen)
            return mix.add_penalties(-ops.sum(objective), images, starts, anchors), objective

        def post(params, images, image_grad, t):
            if not edits:
                return params
            due = [ops.equal(ops.mod(t, float(r.every)), 0.0) for r, _ in edits]
            any_due = due[0]
            for d in due[1:]:
                any_due = ops.logical_or(any_due, d)

            def edit():
                x = param.to_image(params)
                for (r, rows), d in zip(edits, due, strict=True):
                    x = ops.cond(
                        d,
                        lambda x=x, r=r, rows=rows: rows.put(
                            r.edit(rows.take(x), rows.take(image_grad)), x
                        ),
                        lambda x=x: x,
                    )
                return param.from_image(x)

            return ops.cond(any_due, edit, lambda: params)

        self.run = backend.compile_loop(
            param.to_image,
            image_loss,
            post,
            learning_rate,
            needs_image_grad=any(r.needs_image_grad for r, _ in edits),
        )
        evaluate_params = backend.compile_eval(lambda p: evaluate(param.to_image(p)))
        self.evaluate = lambda params: ops.convert_to_numpy(evaluate_params(params))


#: Stopped objectives are dropped from the compiled batch (a new trace) once they are
#: this share of it: below it, computing them on costs less than compiling again.
COMPACT_SHARE = 0.25


def _render_chunk(
    model,
    chunk,
    start,
    param,
    variants,
    variant_of,
    record_steps,
    until,
    learning_rate,
    seed,
    slice_channels,
    climb,
    stepper,
    pbar,
):
    """Render one chunk. Under ``until`` each objective stops at its own plateau (its
    image and value are those of that step), unless the objectives are tied by a term
    across images (diversity): then the chunk stops when all have plateaued."""

    # the start images, for penalties that keep an image near its start
    anchored = any(r.reads_start for v in variants for r in v.regularizers)
    starts = param.to_image(ops.convert_to_tensor(start)) if anchored else None

    def program_for(rows):
        return _Program(
            model,
            [chunk[i] for i in rows],
            param,
            variants,
            variant_of[rows],
            learning_rate,
            seed,
            slice_channels,
            climb,
            stepper,
            starts=None if starts is None else ops.take(starts, rows, axis=0),
            rows=None if len(rows) == len(chunk) else rows,
            total=len(chunk),
        )

    n, ceiling = len(chunk), int(record_steps[-1])
    rows = np.arange(n)  # the chunk's objectives in the compiled batch, in its order
    running = np.ones(n, dtype=bool)  # per row of the batch: not yet stopped
    program = program_for(rows)
    final = np.array(start, dtype=np.float32, copy=True)
    stopped = np.full(n, ceiling, dtype=np.int64)
    trace = np.full((n, len(record_steps)), np.nan, dtype=np.float32)
    params = ops.convert_to_tensor(start)
    m = ops.zeros_like(params)
    v = ops.zeros_like(params)
    t = ops.convert_to_tensor(np.float32(0.0))
    trace[:, 0] = program.evaluate(params)
    done = 0
    for k, step in enumerate(record_steps[1:], start=1):
        steps_now = int(step - done)
        params, m, v, t = program.run(params, m, v, t, ops.convert_to_tensor(np.int32(steps_now)))
        live = rows[running]
        trace[live, k] = program.evaluate(params)[running]
        # the images too: a ReLU may read a NaN image as 0 (CPUs differ), a finite objective
        pixels = ops.convert_to_numpy(params).reshape(len(rows), -1)
        bad = ~(np.isfinite(trace[live, k]) & np.isfinite(pixels[running]).all(axis=1))
        if bad.any():
            where = live[bad]
            names = ", ".join(chunk[i].name for i in where[:5])
            # A regularizer's weight can make the steps diverge as much as the rate can.
            used = [r.name for i in where for r in variants[variant_of[i]].regularizers]
            advice = (
                f"Lower the learning rate ({learning_rate:g}) or the weights of the "
                f"regularizers these images ran with ({', '.join(dict.fromkeys(used))})."
                if used
                else f"Lower the learning rate ({learning_rate:g}) or add a regularizer."
            )
            raise RenderError(
                f"Objective or image became non-finite by step {int(step)} (after step {done}) "
                f"for: {names}; expected a finite value. {advice}"
            )
        pbar.update(len(live) * steps_now)
        done = int(step)
        if until is None or k + 1 == len(record_steps):
            continue
        seen = record_steps[: k + 1]
        if program.ties:
            flat = np.full(len(live), until.reached(seen, trace[live, : k + 1]))
        else:
            flat = until.flat(seen, trace[live, : k + 1])
        if not flat.any():
            continue
        ending = np.flatnonzero(running)[flat]  # rows of the batch
        final[rows[ending]] = ops.convert_to_numpy(params)[ending]
        stopped[rows[ending]] = done
        running[ending] = False
        # the steps these will not run leave the bar's total, so its rate and estimate hold
        pbar.total -= len(ending) * (ceiling - done)
        pbar.refresh()
        if not running.any():
            break
        if (~running).mean() >= COMPACT_SHARE:
            keep = np.flatnonzero(running)
            params, m, v = (ops.take(x, keep, axis=0) for x in (params, m, v))
            rows, running = rows[keep], np.ones(len(keep), dtype=bool)
            program = program_for(rows)
    final[rows[running]] = ops.convert_to_numpy(params)[running]
    images = ops.convert_to_numpy(param.to_image(ops.convert_to_tensor(final)))
    images = images.astype(np.float32)
    at_stop = np.searchsorted(record_steps, stopped)
    values = trace[np.arange(n), at_stop].copy()
    layers = list(dict.fromkeys(layer for o in chunk for layer in o.layers))
    full = Reader(model, layers, None)(ops.convert_to_tensor(images))
    activations = {}
    for layer, act in full.items():
        act = ops.convert_to_numpy(act)
        activations[layer] = act.mean(axis=tuple(range(1, act.ndim - 1))) if act.ndim > 2 else act
    return images, values, trace, activations, stopped


class _Single:
    """One variant for the whole chunk: plain weights, no per-image selection."""

    def __init__(self, variant: Variant) -> None:
        self.transforms = variant.transforms
        self.penalties = [r for r in variant.regularizers if r.is_penalty]
        self.edits = [(r, _EVERY_ROW) for r in variant.regularizers if not r.is_penalty]

    def transform(self, images, rng, height, width):
        if self.transforms is None:
            return images
        return center_crop(self.transforms(images, rng), height, width)

    def add_penalties(self, loss, images, starts=None, anchors=None):
        for r in self.penalties:
            loss = loss + r.weight * ops.sum(_penalty(r, images, starts, anchors))
        return loss


class _Mixed:
    """Several variants in one chunk: each transform, penalty and image edit computed for
    the images of the variants that have it alone, and put back in their rows.

    The transforms draw their random numbers for the whole batch and take their rows
    (:class:`_Rows`), so an image's draws do not depend on its batch-mates; each part is
    computed per image (only rounding may differ on a smaller batch: TensorFlow's resampling
    at fractional coordinates, a penalty's summed gradient terms). A pixel-space group of the
    ablation mixes ten variants, most with one part each; computing every part on every image
    and keeping its variants' rows made a step of 128 conv1 images cost 49 ms where one
    variant alone costs 1 to 25 (5.8 ms now).
    """

    def __init__(self, variants: Sequence[Variant], variant_of: np.ndarray) -> None:
        chosen = [variants[v] for v in variant_of]  # each image's variant
        transforms: dict[str, Transform] = {}
        penalties: dict[str, Regularizer] = {}
        edits: dict[str, Regularizer] = {}
        for v in chosen:
            if v.transforms is not None:
                transforms[v.transforms.name] = v.transforms
            for r in v.regularizers:
                (penalties if r.is_penalty else edits)[r.name] = r

        def column(value) -> np.ndarray:
            return np.array([value(v) for v in chosen], dtype=np.float32)

        def has_transform(name: str):
            return column(lambda v: v.transforms is not None and v.transforms.name == name)

        def weight_of(name: str):
            return column(lambda v: sum(r.weight for r in v.regularizers if r.name == name))

        def has_edit(name: str):
            return column(lambda v: any(r.name == name for r in v.regularizers))

        self.transforms = [(t, _Rows(has_transform(n))) for n, t in transforms.items()]
        self.penalties = []
        for n, r in penalties.items():
            weights = weight_of(n)
            # a penalty in the features of the layer below reads the whole batch's features
            rows = _Rows(weights != 0) if r.space != "features" else _EVERY_ROW
            self.penalties.append((r, rows, ops.convert_to_tensor(rows.take(weights))))
        self.edits = [(r, _Rows(has_edit(n))) for n, r in edits.items()]

    def transform(self, images, rng, height, width):
        seen = images
        for t, rows in self.transforms:
            moved = t(rows.take(images), rows.rng(rng, images.shape[0]))
            seen = rows.put(center_crop(moved, height, width), seen)
        return seen

    def add_penalties(self, loss, images, starts=None, anchors=None):
        for r, rows, weights in self.penalties:
            mine = _penalty(r, rows.take(images), rows.take(starts), anchors)
            loss = loss + ops.sum(weights * mine)
        return loss


def _penalty(r: Regularizer, images: Any, starts: Any, anchors: _Below | None = None) -> Any:
    """A penalty per image; one that reads the start compares each image with its own, in
    pixels or in the features of the layer below the image's objective."""
    if r.space == "features":
        return anchors.penalty(r, images)
    return r.penalty(images, starts) if r.reads_start else r.penalty(images)


class _Below:
    """The activations of the layer below each objective's, for images and their starts.

    Objectives on the first layer with weights compare pixels. The starts' activations are
    computed once; each step computes the images' through the model's lower layers.
    """

    def __init__(self, model: keras.Model, objectives: Sequence[Objective], starts: Any) -> None:
        table = layer_table(model)
        below = [table.below(o.layers[0]) for o in objectives]
        self.layers = [name for name in dict.fromkeys(below) if name is not None]
        self.lower = sub_model(model, self.layers) if self.layers else None
        # per image: 1 where its objective's lower layer is this one (None: the pixels)
        self.masks = {
            name: ops.convert_to_tensor(np.array([b == name for b in below], np.float32))
            for name in [None, *self.layers]
        }
        self.starts = {None: starts, **self._features(starts)}

    def _features(self, images: Any) -> dict[str | None, Any]:
        if self.lower is None:
            return {}
        out = self.lower(images)
        return dict(zip(self.layers, out if isinstance(out, (list, tuple)) else [out], strict=True))

    def penalty(self, r: Regularizer, images: Any) -> Any:
        now = {None: images, **self._features(images)}
        return sum(
            self.masks[name] * r.penalty(now[name], self.starts[name]) for name in self.masks
        )


class _Rows:
    """Some rows of a batch (a 0/1 ``mask`` per image): what a variant's transform, penalty
    or edit is computed on, and how its result goes back among the other rows."""

    def __init__(self, mask: np.ndarray) -> None:
        index = np.flatnonzero(mask).astype(np.int32)
        self.every = len(index) == len(mask)
        if not self.every:
            self.index = ops.convert_to_tensor(index)
            self.at = ops.convert_to_tensor(index.reshape(-1, 1))
            self.mask = ops.convert_to_tensor(np.asarray(mask, np.float32).reshape(-1, 1, 1, 1))

    def take(self, x: Any) -> Any:
        """These rows of ``x`` (None stays None)."""
        return x if x is None or self.every else ops.take(x, self.index, axis=0)

    def put(self, new: Any, old: Any) -> Any:
        """``new`` (these rows) in their rows of ``old``, ``old`` in the others."""
        if self.every:
            return new
        placed = ops.scatter(self.at, new, tuple(old.shape))
        return self.mask * placed + (1.0 - self.mask) * old

    def rng(self, rng: Any, batch: int) -> Any:
        """``rng`` as these rows see it: each draw made for the ``batch`` and these rows
        taken, so that an image's numbers do not depend on which others share its draws."""
        return rng if self.every else _RowsOfDraws(rng, self.index, batch)


class _RowsOfDraws:
    """The draws of a random stream for a whole batch, at some of its rows."""

    def __init__(self, rng: Any, index: Any, batch: int) -> None:
        self.source, self.index, self.batch = rng, index, batch

    def uniform(self, shape: tuple[int, ...], low: float, high: float) -> Any:
        full = self.source.uniform((self.batch, *shape[1:]), low, high)
        return ops.take(full, self.index, axis=0)


#: Every row: the chunk's one variant.
_EVERY_ROW = _Rows(np.ones(1, np.float32))
