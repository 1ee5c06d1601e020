"""The one shape every study has.

A study is a module holding one :class:`Study` subclass and its instance
``STUDY``. The class declares:

- ``name``: the study, its config section (validated by ``config/schema.yaml``)
  and its Snakemake rule share this name;
- ``sections``: the report sections it fills, in order, with their titles;
- ``figures`` and ``files``: the files one job writes, as names under the
  study's folder with ``{job}`` standing for the job's key;
- ``resources`` and ``priority``: what one job asks of a machine (its rule, and so
  the cluster, reads them from here);
- :meth:`Study.jobs`: which jobs a model gets (usually one per layer);
- :meth:`Study.job_settings`: the slice of the section one job reads, so a change
  to one layer's setting reruns that layer's job only;
- :meth:`Study.check`: the layer names and unit indices of the section checked
  against a model's layers before any job runs;
- :meth:`Study.run`: the work of one job, returning a :class:`~featviz.results.Result`
  that lists every figure with its caption, every file and the numbers it reports;
- :meth:`Study.shards` and :meth:`Study.run_shard` (optional): a long job split into
  shards, each its own Snakemake job writing one archive, which the job then reads in
  place of doing that work itself; its outputs are the same, bit for bit;
- :meth:`Study.summarize` (optional): the numbers of all its jobs gathered for
  the report.

The workflow builds each study's rule outputs and targets from these
declarations, the ``featviz study`` command validates the settings and runs
:meth:`Study.execute`, and the report orders its sections by the registry in
:mod:`featviz.studies`. Study modules import Keras inside ``run``: planning the
workflow reads the declarations and must not pay TensorFlow's start-up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from featviz.io import read_npz, write_npz
from featviz.models.layers import LayerTable
from featviz.results import CAPTION_SUFFIX, MANIFEST_SUFFIX, Result, manifest_path, publish
from featviz.settings import schema, validate_definition, validate_section

Settings = Mapping[str, Any]


@dataclass(frozen=True)
class Job:
    """One job of a study: its key, its inputs and where it writes.

    Attributes:
        key: what distinguishes the job within a model (a layer, ``conv1-6-9``).
        model: the ``.keras`` file.
        out_dir: the study's folder for this model; every file goes there.
        data: the prepared dataset (``.npz``), if the study reads data.
        extras: other inputs by name (:data:`EXTRA_INPUTS`): the judge model, the
            learned prior's decoder.
        dataset: the dataset's name (captions and report tables).
        model_name: the model's name (captions and report tables).
    """

    key: str
    model: Path
    out_dir: Path
    data: Path | None = None
    extras: Mapping[str, Path] = field(default_factory=dict)
    dataset: str = ""
    model_name: str = ""
    #: The shards of this job already done, by key (:meth:`Study.shards`): their archives.
    shards: Mapping[str, Path] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How captions name the model: ``cnn3 on synthetic-digits``."""
        if self.model_name and self.dataset:
            return f"{self.model_name} on {self.dataset}"
        return self.model_name or "the model"

    def path(self, name: str) -> Path:
        """The file ``name`` (``{job}`` replaced by the key) in the job's folder."""
        return self.out_dir / name.format(job=self.key)

    def shard_path(self, shard: str) -> Path:
        """The archive that shard ``shard`` of this job writes."""
        return self.out_dir / SHARD.format(job=self.key, shard=shard)

    def require_data(self, study: str) -> Path:
        if self.data is None:
            raise ValueError(f"The {study} study reads test images: give the prepared dataset.")
        return self.data

    def extra(self, name: str) -> Path:
        """The extra input ``name``; a missing one is named with what it is for."""
        if name not in self.extras:
            what = EXTRA_INPUTS.get(name, f"the {name} study's output for this job")
            raise ValueError(f"This job needs {what}: give it as --input {name}=PATH.")
        return Path(self.extras[name])

    def resources(self, recipes: Sequence[Mapping[str, Any]]):
        """What rendering ``recipes`` needs besides settings: the dataset's amplitude spectrum
        for ``maco``, the prior's decoder for ``prior``, training images for starts other than
        grey (each loaded only when used)."""
        from featviz.data.prepare import load_prepared, to_model_input
        from featviz.engine.recipe import Resources, needs_images

        kinds = {recipe["parameterization"] for recipe in recipes}
        spectrum = generator = images = None
        if "maco" in kinds:
            spectrum = load_prepared(self.require_data("maco"))["amplitude_spectrum"]
        if "prior" in kinds:
            from featviz.models.probe import load_model

            generator = load_model(self.extra("prior"), image_input=False)
        if any(needs_images(recipe) for recipe in recipes):
            from featviz.engine.starts import POOL

            if self.data is None:
                raise ValueError(
                    "A start other than grey draws on the training images: give the prepared "
                    "dataset (--data), or set start: grey."
                )
            train = load_prepared(self.data)["x_train"]
            images = to_model_input(train[:POOL])
        return Resources(spectrum=spectrum, generator=generator, images=images)


#: Where a shard of a job writes its arrays, under the study's folder.
SHARD = "shards/{job}/{shard}.npz"
#: The array of a shard's archive that counts its objectives ending below their start.
BELOW_START = "objectives_below_start"
#: A layer name that can name a job's files, its log and its Snakemake wildcard: the rule
#: the schema gives the layers a config names (``$defs/layer``), for the model's own too.
FILE_NAME = re.compile(schema()["$defs"]["layer"]["pattern"])

#: Inputs a study job may need besides its model and data, with what each is.
EXTRA_INPUTS = {
    "judge": "the judge model (results/<dataset>/judge/model.keras)",
    "prior": "the learned prior's decoder (results/<dataset>/prior/decoder.keras)",
}


class Study:
    """Base class of the studies; see the module docstring for what a subclass declares."""

    name: ClassVar[str]
    category: ClassVar[str]  # the category of snakemake --report
    sections: ClassVar[dict[str, str]]
    figures: ClassVar[dict[str, str]] = {"figure": "{job}.png"}
    files: ClassVar[dict[str, str]] = {}
    #: Keys of the section that decide which jobs run; no job reads them.
    plan_keys: ClassVar[tuple[str, ...]] = ()
    #: Outputs of another study's jobs this study reads: input name -> (study, output name)
    #: for the job of the same key (the filters study's arrays of a layer), or
    #: (study, output name, job key) for one fixed job (the ablation's recommended recipe).
    reads: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: The study whose jobs this one runs, all of them, in place of its own :meth:`jobs`
    #: (the recommended study renders every layer the filters study renders).
    same_jobs_as: ClassVar[str | None] = None
    #: What one job asks of a machine, sized for ``config/paper.yaml``: memory (MB) and
    #: time (minutes). The rule declares them, and the SLURM executor sends them to sbatch.
    resources: ClassVar[dict[str, int]] = {"mem_mb": 4000, "runtime": 240}
    #: Scheduling priority of its jobs (higher starts first among those ready).
    priority: ClassVar[int] = 0
    #: Whether its jobs render or train on the accelerator (the GPU lines of the profile).
    renders: ClassVar[bool] = True
    #: What one shard asks of a machine, for studies whose jobs split (:meth:`shards`).
    shard_resources: ClassVar[dict[str, int] | None] = None

    # -- declarations -------------------------------------------------------------------------

    def outputs(self, key: str = "{job}") -> dict[str, str]:
        """Every file one job writes, by output name: each figure's PNG, PDF and caption,
        the other files, and the manifest. Names are relative to the job's folder."""
        names: dict[str, str] = {}
        for label, png in self.figures.items():
            stem = png.removesuffix(".png")
            names[label] = png
            names[f"{label}_pdf"] = f"{stem}.pdf"
            names[f"{label}_caption"] = f"{stem}{CAPTION_SUFFIX}"
        names.update(self.files)
        names["result"] = f"{{job}}{MANIFEST_SUFFIX}"
        return {label: name.replace("{job}", key) for label, name in names.items()}

    def jobs(self, settings: Settings, table: LayerTable) -> list[str]:
        """The keys of the jobs this study runs for a model with layers ``table``."""
        raise NotImplementedError

    def recipes(self, settings: Settings) -> list[dict[str, Any]]:
        """The render recipes the study's jobs use (its own section for most), validated."""
        return [validate_definition("render", settings, self.name)]

    def needs(self, settings: Settings) -> list[str]:
        """Extra inputs (:data:`EXTRA_INPUTS`) the study's jobs read: the prior's decoder
        when a recipe renders through the prior."""
        kinds = {recipe["parameterization"] for recipe in self.recipes(settings)}
        return ["prior"] if "prior" in kinds else []

    def shards(
        self, settings: Settings, table: LayerTable, key: str, units: Sequence[int] | None = None
    ) -> list[str]:
        """The shards job ``key`` splits into: each runs as its own job (:meth:`run_shard`)
        and this job reads their archives. None, the default, runs the job whole. ``units``:
        the unit indices the job renders, where the study whose jobs it shares says
        (:meth:`units_of`)."""
        return []

    def units_of(self, settings: Settings, table: LayerTable, key: str) -> list[int] | None:
        """The unit indices job ``key`` renders, where its settings say (None: not known)."""
        return None

    def shard_needs(self, settings: Settings) -> list[str]:
        """Extra inputs a shard reads: the job's by default."""
        return self.needs(settings)

    def run_shard(self, job: Job, settings: Settings, shard: str) -> dict[str, np.ndarray]:
        """Do shard ``shard`` of ``job``: the arrays its archive holds."""
        raise ValueError(f"--shard {shard}: the {self.name} study's jobs do not split into shards.")

    def job_settings(self, settings: Settings, key: str) -> dict[str, Any]:
        """The part of the section that job ``key`` reads: all but the plan keys by default."""
        return {k: v for k, v in settings.items() if k not in self.plan_keys}

    def trains(
        self, settings: Settings, model: str, entry: Mapping[str, Any], train_seed: int
    ) -> dict[str, tuple[str, dict[str, Any] | None, int]]:
        """Models the train rule trains for this study besides the studied ones, by the input
        name the study reads their metrics under: ``(model name, architecture, seed)``, with
        no architecture where the studied model itself serves. None by default."""
        return {}

    def check(self, settings: Settings, table: LayerTable) -> None:
        """Check the section's layer names (and unit indices) against a model's layers.

        Raises:
            ValueError: naming the setting, the layer or index and what is valid.
        """
        for key in self.jobs(settings, table):
            self.check_layer(table, key)

    def check_layer(self, table: LayerTable, layer: str) -> None:
        """``layer`` is one of the model's, and its name can name the job's files."""
        try:
            table.get(layer)
        except ValueError as err:
            raise ValueError(f"{self.name}: {err}") from None
        if not FILE_NAME.fullmatch(layer):
            raise ValueError(
                f"{self.name}: layer {layer!r} cannot name the job's files and log: expected "
                "a name of letters, digits, '_', '.' and '-' (save the model with the layer "
                "renamed)."
            )

    def run(self, job: Job, settings: Settings) -> Result:
        """Do one job; return what it wrote (every figure with its caption) and reports."""
        raise NotImplementedError

    def summarize(self, results: Sequence[Result]) -> dict[str, Any] | None:
        """Numbers gathered over every job of the study, for the report (none by default)."""
        return None

    # -- running --------------------------------------------------------------------------------

    def validate(self, settings: Settings | None) -> dict[str, Any]:
        """``settings`` checked by the schema, defaults filled, plan keys left out: what a
        job reads, and what its provenance records."""
        checked = validate_section(self.name, settings)
        return {k: v for k, v in checked.items() if k not in self.plan_keys}

    def execute(self, job: Job, settings: Settings | None) -> tuple[Result, list[Path]]:
        """Validate ``settings`` (defaults from the schema), run ``job`` and publish it.

        A job that renders reports ``objectives_below_start``: how many of its objectives
        ended below their start value (each render call names them on stderr).

        Returns:
            The result, and every file of the job (what :meth:`outputs` declares).

        Raises:
            SettingsError: a setting the schema does not accept.
            RuntimeError: the study wrote other files than it declares (a bug).
        """
        from featviz.engine.render import watch_starts

        settings = self.validate(settings)
        check_fit(job.model, job.data)
        with watch_starts() as watch:
            result = self.run(job, settings)
        if watch.calls or job.shards:  # the shards' renders count as the job's own
            result.numbers["objectives_below_start"] = len(watch.below_start) + sum(
                int(read_npz(path, keys=[BELOW_START])[BELOW_START]) for path in job.shards.values()
            )
        result.labels = {"dataset": job.dataset, "model": job.model_name, **result.labels}
        files = publish(result, manifest_path(job.out_dir, job.key))
        declared = {job.out_dir / name for name in self.outputs(job.key).values()}
        if set(files) != declared:
            extra = sorted(map(str, set(files) - declared))
            missing = sorted(map(str, declared - set(files)))
            raise RuntimeError(
                f"Study '{self.name}' wrote undeclared files {extra} and did not write "
                f"declared files {missing}."
            )
        return result, files

    def execute_shard(self, job: Job, settings: Settings | None, shard: str) -> Path:
        """Validate ``settings``, run shard ``shard`` of ``job`` and write its archive.

        Returns:
            The archive (:meth:`Job.shard_path`).
        """
        from featviz.engine.render import watch_starts

        settings = self.validate(settings)
        check_fit(job.model, job.data)
        with watch_starts() as watch:
            arrays = self.run_shard(job, settings, shard)
        path = job.shard_path(shard)
        write_npz(path, **arrays, **{BELOW_START: np.array(len(watch.below_start))})
        return path


def check_fit(model: Path, data: Path | None) -> None:
    """Refuse a dataset whose images the model does not take, naming both files and shapes
    (Keras would fail later, deep in a prediction, naming neither).

    Raises:
        ValueError: the model's input shape differs from the dataset's images.
    """
    if data is None or not Path(data).is_file() or not Path(model).is_file():
        return  # the study names a missing file where it reads it
    from featviz.io import npz_shape

    try:
        shape = npz_shape(data, "x_test")
    except ValueError:
        return  # not an archive: reading it as the dataset says what it is
    if shape is None or len(shape) != 4:
        return  # reading it as the dataset names the array that is wrong
    table = LayerTable.from_keras_file(model)
    if tuple(table.input_shape) != tuple(shape[1:]):
        raise ValueError(
            f"{data}: images of shape {tuple(shape[1:])}, but {model} takes images of "
            f"shape {tuple(table.input_shape)}; expected the dataset the model was trained on."
        )


def layers_and_classes(layers: Sequence[str], classes: bool, table: LayerTable) -> list[str]:
    """``layers``, then the logits layer if ``classes``; each once, in that order."""
    return list(dict.fromkeys([*layers, *([table.logits] if classes else [])]))


def format_units(indices: Sequence[int | str] | None, noun: str = "unit") -> str:
    """``every unit``, ``unit 3``, ``units 0-15``, ``units 1, 4, 9`` or ``classes a, c``."""
    if indices is None:
        return f"every {noun}"
    indices = list(indices)
    plural = noun + ("es" if noun.endswith("s") else "s")
    if len(indices) == 1:
        return f"{noun} {indices[0]}"
    numbers = all(isinstance(i, int | np.integer) for i in indices)
    if numbers and len(indices) > 2 and indices == list(range(indices[0], indices[-1] + 1)):
        return f"{plural} {indices[0]}-{indices[-1]}"
    return f"{plural} " + ", ".join(map(str, indices))
