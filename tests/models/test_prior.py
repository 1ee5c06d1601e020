import numpy as np
import pytest

from featviz.data.catalog import resolve
from featviz.data.prepare import prepare
from featviz.models.prior import build_autoencoder, train_prior


def test_the_prior_decodes_images_and_renders_through_them(tmp_path, tiny_model):
    from featviz.engine import channel, recipe
    from featviz.models.probe import load_model

    spec = resolve("sd", {"kind": "synthetic-digits"})
    prepare(spec, tmp_path / "d.npz", validation_fraction=0.1, n_train=200, n_test=40, seed=0)
    settings = {
        "latent_dim": 6,
        "noise": 0.1,
        "epochs": 2,
        "batch_size": 64,
        "learning_rate": 0.003,
        "seed": 0,
    }
    result = train_prior(tmp_path / "d.npz", tmp_path / "prior", settings, "digits")
    decoder = load_model(tmp_path / "prior" / "decoder.keras", image_input=False)
    codes = np.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    images = decoder.predict(codes, verbose=0)
    assert images.shape == (3, 28, 28, 1) and images.min() >= 0 and images.max() <= 1
    assert 0 < result.numbers["test_mse"] < 0.2
    assert result.figures[0].caption.startswith("The learned prior of digits: an autoencoder")
    assert result.figures[0].section == "training"
    # rendering through the decoder: the prior parameterization of a recipe
    from featviz.models.build import build_model
    from featviz.models.spec import Architecture

    model = build_model(
        Architecture(conv_filters=(4,), kernel_size=3, dense_units=(8,)), (28, 28, 1), 10, seed=0
    )
    rendered, how = recipe.render_with(
        model,
        [channel("conv1", 0)],
        {"parameterization": "prior"},
        recipe.Resources(generator=decoder),
        steps=10,
        progress=False,
    )
    assert "learned prior" in how and rendered.images.shape == (1, 28, 28, 1)
    with pytest.raises(ValueError, match="needs the learned prior's decoder"):
        recipe.render_with(model, [channel("conv1", 0)], {"parameterization": "prior"}, steps=1)


def test_image_sides_must_halve_twice():
    with pytest.raises(ValueError, match=r"divisible by 4, got 30x30"):
        build_autoencoder((30, 30, 1), 4, 0.1, seed=0)
