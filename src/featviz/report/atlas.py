"""The atlas: a static site with a page for every unit the studies rendered.

Built from what the study rules wrote (it renders nothing), as plain HTML and
CSS with a little JavaScript, relative links only, so that it opens from disk
and can be put on any static host::

    index.html                                every dataset x model, with its accuracy
    <dataset>/<model>/index.html              the layers as rows of thumbnails
    <dataset>/<model>/<layer>/<index>.html    one unit (a class for the logits layer)
    <dataset>/<model>/<layer>/feature-<k>.html  one feature of the layer's learned dictionary
    provenance/<artifact>.record.json         the records of the arrays the pages show
    atlas.css, atlas.js

A unit page shows the unit under the seed's recipe (the filters study) and
under the recipe the ablation chose (the recommended study: each restart, the
minimizing image, the unit's interpretability scores), its convergence trace,
its top and bottom test images cropped to its receptive field with their
deconvnet and guided-backpropagation projections, the first convolution's
weights, its most similar units, and the unit under every ablation setting
where the ablation sampled it, and the dictionary features it loads on most. A feature
page shows a learned direction (the dictionary study) as a unit page shows a unit: its
maximizing and minimizing images, its scores, its cropped exemplars, and the units it
spreads over. Captions are those the studies wrote. Under every picture, a link to the
provenance record of the arrays it was drawn from.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from markupsafe import Markup

from featviz.data.prepare import load_prepared, to_model_input
from featviz.io import read_json, read_npz, write_text
from featviz.plotting import signed_to_grey
from featviz.provenance import sidecar_path
from featviz.report.pictures import crop, kernels_image, save_png, strip, trace_svg
from featviz.report.templating import environment
from featviz.results import Result, read_manifest

#: The studies whose outputs the atlas reads.
STUDIES = (
    "filters",
    "recommended",
    "convergence",
    "deconv",
    "redundancy",
    "ablation",
    "dictionary",
)
#: Pixels per image pixel: on unit pages, and in the model page's strips.
UNIT_SCALE, STRIP_SCALE = 4, 2
#: Most similar units listed per measure; features listed per unit.
SIMILAR = FEATURES_PER_UNIT = 5
RECORD_SUFFIX = ".record.json"


@dataclass(frozen=True)
class Picture:
    """A PNG of the site, its size in pixels, and how many page pixels each one takes
    (pixels stay square): one file serves every size a page shows it at."""

    src: str
    columns: int
    rows: int
    scale: int

    @property
    def width(self) -> int:
        return self.columns * self.scale

    @property
    def height(self) -> int:
        return self.rows * self.scale

    def at(self, scale: int) -> Picture:
        """The same file shown ``scale`` page pixels per pixel."""
        return replace(self, scale=scale)


@dataclass
class Site:
    """The folder being written, and every file written into it."""

    root: Path
    files: list[Path] = field(default_factory=list)

    def png(self, rel: str, image: np.ndarray, scale: int) -> Picture:
        """Write ``image`` at its own size; pages show it ``scale`` times larger."""
        self.files.append(save_png(image, self.root / rel))
        return Picture(rel, image.shape[1], image.shape[0], scale)

    def text(self, rel: str, text: str) -> str:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, text)
        self.files.append(path)
        return rel

    def record(self, artifact: Path) -> str:
        """A copy of ``artifact``'s provenance record inside the site; its site path."""
        # under provenance/ whatever the artifact's path: no part may climb out of the site
        parts = [p for p in Path(os.path.relpath(artifact)).parts if p not in ("..", "/")]
        rel = f"provenance/{'/'.join(parts)}{RECORD_SUFFIX}"
        if not (self.root / rel).exists():
            self.text(rel, sidecar_path(artifact).read_text(encoding="utf-8"))
        return rel


@dataclass
class ModelRun:
    """What the studies wrote for one dataset and model."""

    dataset: str
    model: str
    jobs: dict[str, dict[str, Result]] = field(default_factory=lambda: defaultdict(dict))
    accuracy: float | None = None

    def result(self, study: str, job: str | None = None) -> Result | None:
        found = self.jobs.get(study, {})
        if job is None:
            return next(iter(found.values()), None)
        return found.get(job)


def arrays_of(result: Result | None, suffix: str = ".npz") -> Path | None:
    """The first file of a job with ``suffix`` (its arrays)."""
    if result is None:
        return None
    return next((f for f in result.files if f.name.endswith(suffix)), None)


def group_runs(
    manifests: Iterable[str | os.PathLike[str]], metrics: Iterable[str | os.PathLike[str]]
) -> dict[tuple[str, str], ModelRun]:
    """The jobs' manifests by dataset and model, with each model's test accuracy."""
    runs: dict[tuple[str, str], ModelRun] = {}
    for path in manifests:
        result = read_manifest(path)
        key = (result.labels["dataset"], result.labels["model"])
        run = runs.setdefault(key, ModelRun(*key))
        run.jobs[result.stage][result.job] = result
    for path in map(Path, metrics):
        key = (path.parent.parent.name, path.parent.name)
        if key in runs:
            run = runs[key]
            run.accuracy = read_json(path).get("test_accuracy")
    return dict(sorted(runs.items()))


def first_conv_kernel(model_path: Path) -> tuple[str, np.ndarray] | None:
    """The first convolution on the input, and its kernel, if its filters are images
    (one or three input channels)."""
    import keras

    from featviz.models import probe

    model = probe.load_model(model_path)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel = keras.ops.convert_to_numpy(layer.kernel)
            return (layer.name, kernel) if kernel.shape[2] in (1, 3) else None
    return None


def ablation_rows(run: ModelRun, site: Site) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Every unit and class the ablation rendered: per setting, its images and measures."""
    result = run.result("ablation")
    path = arrays_of(result)
    scores = arrays_of(result, "_scores.csv")
    if path is None or scores is None:
        return {}
    arrays = read_npz(path)
    record = site.record(path)
    measured: dict[tuple[str, str, int], list[dict[str, str]]] = defaultdict(list)
    with open(scores, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["kind"] != "min":
                measured[(row["setting"], row["layer"], int(row["index"]))].append(row)
    found: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    base = f"{run.dataset}/{run.model}/ablation"
    for t, (kind, layer, index) in enumerate(
        zip(arrays["kinds"], arrays["layers"], arrays["indices"], strict=True)
    ):
        if kind == "min":
            continue
        for s, setting in enumerate(arrays["settings"]):
            rows = measured.get((str(setting), str(layer), int(index)), [])

            def mean(key: str, rows: list[dict[str, str]] = rows) -> float | None:
                values = [float(r[key]) for r in rows if r.get(key)]
                return float(np.mean(values)) if values else None

            images = [
                site.png(f"{base}/{layer}-{index}-{setting}-{k}.png", im, UNIT_SCALE)
                for k, im in enumerate(arrays["images"][s, t])
            ]
            found[(str(layer), int(index))].append(
                {
                    "setting": str(setting),
                    "images": list(zip(images, arrays["values"][s, t].tolist(), strict=True)),
                    "hf_share": float(np.mean(arrays["hf_share"][s, t])),
                    "two_afc": mean("two_afc"),
                    "natural_two_afc": mean("natural_two_afc"),
                    "confidence": mean("transferability"),
                    "record": record,
                }
            )
    return found


def similar_units(matrix: np.ndarray, unit: int, units: Sequence[int]) -> list[tuple[int, float]]:
    """The :data:`SIMILAR` units with the highest similarity to ``unit``, among ``units``."""
    row = matrix[unit]
    others = [u for u in units if u != unit and np.isfinite(row[u])]
    others.sort(key=lambda u: -row[u])
    return [(u, float(row[u])) for u in others[:SIMILAR]]


def build_model_pages(
    run: ModelRun,
    site: Site,
    env: Any,
    test: np.ndarray,
    class_names: Sequence[str],
    model_file: Path,
) -> dict[str, Any]:
    """Write the model page and its unit pages; return the model's entry for the index."""
    base = f"{run.dataset}/{run.model}"
    filters = run.jobs.get("filters", {})
    layers = list(filters)
    logits = layers[-1] if layers else None
    redundancy = run.result("redundancy")
    red_path = arrays_of(redundancy)
    red = read_npz(red_path) if red_path else {}
    ablation = ablation_rows(run, site)
    weights = None
    kernel = first_conv_kernel(model_file)
    if kernel is not None:
        weights = {
            "layer": kernel[0],
            "image": site.png(f"{base}/{kernel[0]}-weights.png", kernels_image(kernel[1]), 6),
            "record": site.record(model_file),
        }
    paths = {layer: arrays_of(filters[layer]) for layer in layers}
    rendered = {layer: read_npz(path) for layer, path in paths.items()}
    units_of = {layer: rendered[layer]["indices"].tolist() for layer in layers}
    order = [(layer, int(i)) for layer in layers for i in units_of[layer]]
    position = 0
    rows = []
    for layer in layers:
        f, f_path = rendered[layer], paths[layer]
        f_record = site.record(f_path)
        rec_result = run.result("recommended", layer)
        rec_path = arrays_of(rec_result)
        rec = read_npz(rec_path) if rec_path else None
        rec_row = {int(i): r for r, i in enumerate(rec["indices"])} if rec is not None else {}
        dec_path = arrays_of(run.result("deconv", layer))
        dec = read_npz(dec_path) if dec_path else None
        conv_path = arrays_of(run.result("convergence", layer))
        conv = read_npz(conv_path) if conv_path else None
        dictionary = _dictionary(site, env, run, base, layer, test, units_of)
        is_class = layer == logits and len(f["indices"]) == len(class_names)
        dead = red.get(f"{layer}_dead")
        cluster = red.get(f"{layer}_cluster")
        thumbs = []
        for u, index in enumerate(units_of[layer]):
            label = class_names[index] if is_class else f"#{index}"
            marks = []
            if dead is not None and bool(dead[index]):
                marks.append("dead")
            if cluster is not None and cluster[index] >= 0:
                marks.append(f"duplicate group {int(cluster[index]) + 1}")
            seed = site.png(f"{base}/{layer}/{index}.png", f["images"][u], UNIT_SCALE)
            recommended = None
            if index in rec_row:
                recommended = _recommended(
                    site, base, layer, index, rec, rec_row[index], rec_result, rec_path
                )
            page = f"{base}/{layer}/{index}.html"
            unit = {
                "layer": layer,
                "index": index,
                "label": label,
                "is_class": is_class,
                "marks": marks,
                "value": float(f["values"][u]),
                "thumb": seed.at(STRIP_SCALE),
                "rec_thumb": recommended["best"].at(STRIP_SCALE) if recommended else None,
                "rec_value": recommended["best_value"] if recommended else None,
                "page": page,
            }
            thumbs.append(unit)
            context = {
                **unit,
                "dataset": run.dataset,
                "model": run.model,
                "seed": {
                    "image": seed,
                    "restart_values": f["restart_values"][u].tolist(),
                    "caption": filters[layer].figures[0].caption,
                    "record": f_record,
                },
                "recommended": recommended,
                "trace": _trace(f, u, conv, index, f_record, site, conv_path),
                "examples": _examples(
                    site, base, layer, index, u, f, test, dec, f_record, dec_path
                ),
                "weights": weights if weights and weights["layer"] == layer else None,
                "similar": _similar(red, layer, index, units_of[layer], red_path, site),
                "ablation": ablation.get((layer, index), []),
                "features": dictionary["of_unit"](index) if dictionary else [],
                "prev": order[position - 1] if position > 0 else None,
                "next": order[position + 1] if position + 1 < len(order) else None,
                "units": units_of,
            }
            _page(site, env, page, "unit.html.j2", context)
            position += 1
        rows.append(
            {
                "layer": layer,
                "units": thumbs,
                "caption": filters[layer].figures[0].caption,
                "record": f_record,
                "recommended": rec_result.numbers["setting"] if rec_result else None,
                "rec_record": site.record(rec_path) if rec_path else None,
                "reach": {
                    kind: {k: result.numbers.get(k) for k in ("live", "stuck", "below_best")}
                    for kind, result in (("seed", filters[layer]), ("recommended", rec_result))
                    if result is not None and "live" in result.numbers
                },
                "dictionary": dictionary["row"] if dictionary else None,
            }
        )
    _page(
        site,
        env,
        f"{base}/index.html",
        "model.html.j2",
        {"dataset": run.dataset, "model": run.model, "rows": rows, "units": units_of},
    )
    return {
        "dataset": run.dataset,
        "model": run.model,
        "accuracy": run.accuracy,
        "page": f"{base}/index.html",
        "units": len(order),
    }


def _dictionary(site, env, run, base, layer, test, units_of) -> dict[str, Any] | None:
    """Write the pages of the layer's dictionary features, if the dictionary study ran on
    it; return the model page's row of features, and for each unit the features that load
    on it most. A unit is linked where it has a page (``units_of``: the units rendered per
    layer, which the jump box also reads)."""
    result = run.result("dictionary", layer)
    path = arrays_of(result)
    if path is None:
        return None
    d = read_npz(path)
    record = site.record(path)
    features = d["features"]
    n = len(features)
    thumbs = []
    for k in range(n):
        best = int(np.argmax(d["max_values"][k]))
        images = [
            site.png(f"{base}/{layer}/feature-{k}-{i}.png", im, UNIT_SCALE)
            for i, im in enumerate(d["max_images"][k])
        ]
        minimized = [
            site.png(f"{base}/{layer}/feature-{k}-minimized-{i}.png", im, UNIT_SCALE)
            for i, im in enumerate(d["min_images"][k])
        ]
        examples = {}
        for end in ("top", "bottom"):
            crops = [
                crop(test[i], w) for i, w in zip(d[end][k], d[f"{end}_windows"][k], strict=True)
            ]
            examples[end] = site.png(
                f"{base}/{layer}/feature-{k}-{end}.png", strip(crops), UNIT_SCALE
            )
            examples[f"{end}_scores"] = d[f"{end}_scores"][k].tolist()
        weights = features[k]
        loads = [(int(u), float(weights[u]), int(u) in units_of[layer]) for u in d["top_units"][k]]
        page = f"{base}/{layer}/feature-{k}.html"
        thumb = {
            "k": k,
            "page": page,
            "thumb": images[best].at(STRIP_SCALE),
            "value": float(d["max_values"][k, best]),
        }
        thumbs.append(thumb)
        _page(
            site,
            env,
            page,
            "feature.html.j2",
            {
                **thumb,
                "dataset": run.dataset,
                "model": run.model,
                "layer": layer,
                "count": n,
                "images": list(zip(images, d["max_values"][k].tolist(), strict=True)),
                "min_images": minimized,
                "examples": examples,
                "two_afc": float(d["two_afc"][k]),
                "natural_two_afc": float(d["natural_two_afc"][k]),
                "hf_share": float(np.mean(d["hf_share"][k])),
                "diversity": float(d["diversity"][k]),
                "used": float(d["used"][k]),
                "spread": float(d["spread"][k]),
                "loads": loads,
                "units": units_of,
                "caption": result.figures[0].caption,
                "numbers": result.numbers,
                "record": record,
            },
        )

    def of_unit(index: int) -> list[dict[str, Any]]:
        """The features with the largest weight on unit ``index`` (none that skip it)."""
        column = features[:, index]
        order = np.argsort(-column, kind="stable")[:FEATURES_PER_UNIT]
        return [
            {"k": int(k), "weight": float(column[k]), "page": f"{base}/{layer}/feature-{k}.html"}
            for k in order
            if column[k] > 0
        ]

    row = {"features": thumbs, "numbers": result.numbers, "record": record}
    return {"row": row, "of_unit": of_unit}


def _recommended(site, base, layer, index, rec, u, result, path) -> dict[str, Any]:
    images = [
        site.png(f"{base}/{layer}/{index}-recommended-{k}.png", im, UNIT_SCALE)
        for k, im in enumerate(rec["max_images"][u])
    ]
    confidence = rec["confidence"][u]
    best = int(np.argmax(rec["max_values"][u]))
    return {
        "setting": result.numbers["setting"],
        "images": list(zip(images, rec["max_values"][u].tolist(), strict=True)),
        "best": images[best],
        "best_value": float(rec["max_values"][u, best]),
        "min_images": list(
            zip(
                [
                    site.png(f"{base}/{layer}/{index}-minimized-{k}.png", im, UNIT_SCALE)
                    for k, im in enumerate(rec["min_images"][u])
                ],
                rec["min_values"][u].tolist(),
                strict=True,
            )
        ),
        "two_afc": float(rec["two_afc"][u]),
        "natural_two_afc": float(rec["natural_two_afc"][u]),
        "hf_share": float(np.mean(rec["hf_share"][u])),
        "diversity": float(rec["diversity"][u]),
        "confidence": float(np.mean(confidence)) if np.isfinite(confidence).all() else None,
        "caption": result.figures[0].caption,
        "record": site.record(path),
    }


def _trace(f, u, conv, index, f_record, site, conv_path) -> dict[str, Any]:
    if conv is not None and index in conv["indices"].tolist():
        c = conv["indices"].tolist().index(index)
        return {
            "svg": Markup(trace_svg(conv["steps"], conv["traces"][c], float(conv["plateau"][c]))),
            "source": "the convergence study's long run",
            "record": site.record(conv_path),
        }
    return {
        "svg": Markup(trace_svg(f["trace_steps"], f["traces"][u])),
        "source": "the render shown above (seed's recipe)",
        "record": f_record,
    }


def _examples(site, base, layer, index, u, f, test, dec, f_record, dec_path) -> dict[str, Any]:
    found: dict[str, Any] = {"record": f_record}
    for end in ("top", "bottom"):
        crops = [crop(test[i], w) for i, w in zip(f[end][u], f[f"{end}_windows"][u], strict=True)]
        found[end] = site.png(f"{base}/{layer}/{index}-{end}.png", strip(crops), UNIT_SCALE)
        found[f"{end}_scores"] = f[f"{end}_scores"][u].tolist()
    if dec is not None and index in dec["indices"].tolist():
        d = dec["indices"].tolist().index(index)
        for rule in ("deconvnet", "guided"):
            crops = [
                crop(signed_to_grey(p), w)
                for p, w in zip(dec[rule][d], dec["windows"][d], strict=True)
            ]
            found[rule] = site.png(f"{base}/{layer}/{index}-{rule}.png", strip(crops), UNIT_SCALE)
        found["projections_record"] = site.record(dec_path)
    return found


def _similar(red, layer, index, units, red_path, site) -> dict[str, Any] | None:
    key = f"{layer}_weight_cosine"
    if key not in red:
        return None
    return {
        "weights": similar_units(red[key], index, units),
        "activations": similar_units(red[f"{layer}_activation_correlation"], index, units),
        "active_share": float(red[f"{layer}_active_share"][index])
        if f"{layer}_active_share" in red
        else None,
        "record": site.record(red_path),
    }


def _page(site: Site, env: Any, rel: str, template: str, context: Mapping[str, Any]) -> None:
    depth = rel.count("/")
    site.text(rel, env.get_template(f"atlas/{template}").render(root="../" * depth, **context))


def build_atlas(
    out: str | os.PathLike[str],
    *,
    manifests: Sequence[str | os.PathLike[str]],
    metrics: Sequence[str | os.PathLike[str]],
    data: Sequence[str | os.PathLike[str]],
    models: Sequence[str | os.PathLike[str]],
    report: str | os.PathLike[str] | None = None,
    title: str,
) -> list[Path]:
    """Write the atlas into the folder ``out`` (replaced whole, never left half-written).

    Args:
        manifests: the ``*.result.json`` of the jobs of :data:`STUDIES`.
        metrics: each model's ``metrics.json`` (test accuracy on the index).
        data: each dataset's prepared ``dataset.npz`` (``results/<dataset>/data/``).
        models: each model's ``model.keras`` (its first convolution's weights).
        report: the report to link from the index (copied in), if any.

    Returns:
        Every file written, under ``out``.

    Raises:
        ValueError: a dataset or model of the manifests without its data or model file.
    """
    out = Path(out)
    staging = out.with_name(f".{out.name}.part")
    shutil.rmtree(staging, ignore_errors=True)
    site = Site(staging)
    staging.mkdir(parents=True)
    env = environment()
    datasets = {Path(p).parent.parent.name: Path(p) for p in data}
    model_files = {(Path(p).parent.parent.name, Path(p).parent.name): Path(p) for p in models}
    entries = []
    try:
        for (dataset, model), run in group_runs(manifests, metrics).items():
            if dataset not in datasets or (dataset, model) not in model_files:
                raise ValueError(
                    f"The atlas needs the data and model file of {model} on {dataset}; "
                    f"got data for {sorted(datasets)} and models {sorted(model_files)}."
                )
            prepared = load_prepared(datasets[dataset])
            test = to_model_input(prepared["x_test"])
            names = [str(c) for c in prepared["class_names"]]
            model_file = model_files[(dataset, model)]
            entries.append(build_model_pages(run, site, env, test, names, model_file))
        report_link = None
        if report is not None:
            report_link = f"report{Path(report).suffix}"
            shutil.copyfile(report, staging / report_link)
            site.files.append(staging / report_link)
        for name in ("atlas.css", "atlas.js"):
            site.text(name, env.loader.get_source(env, f"atlas/{name}")[0])
        _page(
            site,
            env,
            "index.html",
            "index.html.j2",
            {"title": title, "entries": entries, "report": report_link},
        )
        shutil.rmtree(out, ignore_errors=True)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(out / f.relative_to(staging) for f in site.files)
