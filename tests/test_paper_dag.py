"""The paper-sized DAG's pricing: the jobs a real dry run plans, the shards' images, and how
a shard the sample did not run is priced from those it did."""

import pytest

from benchmarks.paper_dag import (
    CONFIGS,
    PlannedJob,
    ShardPrices,
    every_shard_image,
    paper_config,
    parse_dry_run,
    rendered_images,
    sample_keys,
    shard_images,
    snakemake,
)
from tests.conftest import ROOT


def test_a_dry_run_lists_every_job_with_its_benchmark_files_and_wildcards(tmp_path):
    split = tmp_path / "split.yaml"
    split.write_text("ablation:\n  split: true\n  shard_batches: 1\n")
    text = snakemake(tmp_path, [ROOT / "config" / "demo.yaml", split], "-n")
    jobs = parse_dry_run(text)
    total = int(next(line.split()[1] for line in text.splitlines() if line.startswith("total ")))
    assert len(jobs) == total
    assert [j.rule for j in jobs if not j.benchmark] == ["all"]
    trains = [j for j in jobs if j.rule == "train"]
    assert trains and all(j.outputs[0].endswith("/model.keras") for j in trains)
    assert all(j.wildcards["dataset"] in j.benchmark for j in trains)
    shards = [j for j in jobs if j.rule == "ablation_shard"]
    assert shards and all(f"/{j.wildcards['shard']}.tsv" in j.benchmark for j in shards)
    assert all(f"results/{j.wildcards['dataset']}/cnn3/model.keras" in j.inputs for j in shards)


def test_the_shards_images_add_up_to_each_render_call():
    """At the paper's settings, the pixel-space group's parts of a layer hold every image of
    its call (8 units maximized and minimized, 9 starts each, under each setting)."""
    config = paper_config()
    assert [str(p) for p in CONFIGS][0].endswith("paper.yaml")
    images = shard_images(config, "synthetic-digits")
    fc1 = {k: n for k, n in images.items() if k.startswith("0-accentuation-fc1")}
    assert len(fc1) > 1 and max(fc1.values()) == 256
    settings = config["ablation"]
    groups = {k.split("-")[1] for k in images}
    assert "decorrelated" not in groups  # grey digits
    assert images["0-maco-fc1"] == 2 * settings["units_per_layer"] * settings["references"]
    assert sum(fc1.values()) == images["0-maco-fc1"] * 10  # ten pixel-space settings
    every = every_shard_image(config)
    assert every["synthetic-digits"] == images
    assert all(key in every[dataset] for dataset, key in sample_keys(every))


def test_a_shard_the_sample_did_not_run_is_priced_from_those_it_did():
    digits, house = "synthetic-digits", "synthetic-house-numbers"
    flops = {(digits, "conv1"): 0.0, (digits, "conv2"): 5.0, (digits, "fc1"): 10.0}
    flops |= {(house, "conv1"): 0.0, (house, "conv2"): 10.0, (house, "fc1"): 20.0}
    prices = ShardPrices(
        {
            (digits, "accentuation", "conv1"): 1.0,
            (digits, "accentuation", "fc1"): 3.0,
            (digits, "fourier", "fc1"): 6.0,
        },
        flops,
    )
    assert prices.price(digits, "accentuation", "fc1") == (3.0, "measured")
    # a layer between: on the line through the sampled layers' operations and seconds
    assert prices.price(digits, "accentuation", "conv2")[0] == pytest.approx(2.0)
    # another group: the pixel-space group's price times its measured ratio to it
    assert prices.price(digits, "fourier", "conv2")[0] == pytest.approx(4.0)
    # the other dataset: digits' line at its operations
    assert prices.price(house, "accentuation", "conv2")[0] == pytest.approx(3.0)
    # ... scaled to the one layer it has sampled
    prices.per_image[house, "accentuation", "fc1"] = 10.0
    assert prices.price(house, "accentuation", "conv2")[0] == pytest.approx(6.0)
    # a group never sampled costs what the pixel-space group does
    assert prices.price(digits, "maco", "fc1") == (3.0, "as accentuation")
    # one sampled layer and no line anywhere: no price
    assert (
        ShardPrices({(digits, "accentuation", "fc1"): 3.0}, flops).price(
            digits, "accentuation", "conv2"
        )
        is None
    )


def test_a_layer_renders_its_units_in_its_job_or_in_its_shards_never_both():
    """The recommended study renders each filters unit of a layer once, maximized and
    minimized from 9 starts: conv3's 128 in eight shards of 16, fc2's classes in its job;
    a split dictionary renders its 16 features in its shard."""
    config = paper_config()

    def job(rule, layer, shard=None):
        wildcards = {"dataset": "synthetic-digits", "job": layer}
        return PlannedJob(rule, {**wildcards, "shard": shard} if shard else wildcards)

    split = {
        ("recommended", "synthetic-digits", "conv3"),
        ("dictionary", "synthetic-digits", "fc1"),
    }
    assert rendered_images(config, job("recommended", "conv1"), split) == 32 * 2 * 9
    assert rendered_images(config, job("recommended", "conv3"), split) == 0
    shards = [
        job("recommended_shard", "conv3", f"units-{lo}-{lo + 15}") for lo in range(0, 128, 16)
    ]
    assert [rendered_images(config, s, split) for s in shards] == [16 * 2 * 9] * 8
    assert rendered_images(config, job("recommended", "fc2"), split) == 10 * 2 * 9  # classes
    assert rendered_images(config, job("dictionary", "fc1"), split) == 0
    assert rendered_images(config, job("dictionary_shard", "fc1", "features"), split) == 16 * 2 * 9
    assert rendered_images(config, job("dictionary", "conv3"), split) == 16 * 2 * 9
