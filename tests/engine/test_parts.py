"""Parameterizations, transforms, regularizers and slicing, each on its own."""

import keras
import numpy as np
import pytest
from keras import ops
from skimage.restoration import denoise_bilateral

from featviz.engine import backend
from featviz.engine import regularizers as reg
from featviz.engine.objectives import channel, unit
from featviz.engine.params import fourier, latent, pixel
from featviz.engine.slicing import Reader, plan_slice
from featviz.engine.transforms import center_crop, compose, jitter, pad, preset, rotate, scale


def batch(shape=(3, 10, 10, 3), seed=0):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype("float32")


@pytest.mark.parametrize(
    "param", [pixel(), pixel(decorrelate=True), fourier(), fourier(decorrelate=True)]
)
def test_parameterizations_are_valid_and_invertible(param):
    param.bind((10, 10, 3))
    p = param.init(2, seed=0)
    img = ops.convert_to_numpy(param.to_image(ops.convert_to_tensor(p)))
    assert img.shape == (2, 10, 10, 3) and img.min() > 0 and img.max() < 1
    target = batch((2, 10, 10, 3)) * 0.8 + 0.1
    back = param.to_image(param.from_image(ops.convert_to_tensor(target)))
    np.testing.assert_allclose(ops.convert_to_numpy(back), target, atol=1e-4)


def test_decorrelation_needs_colour():
    with pytest.raises(ValueError, match="needs 3-channel images, but the model takes 1"):
        pixel(decorrelate=True).bind((28, 28, 1))


def test_fourier_start_is_smoother_than_pixel_start():
    tv = reg.total_variation(1.0).penalty
    f = fourier().bind((28, 28, 1))
    p = pixel().bind((28, 28, 1))
    smooth = tv(f.to_image(ops.convert_to_tensor(f.init(4, 0))))
    rough = tv(p.to_image(ops.convert_to_tensor(p.init(4, 0))))
    assert float(ops.mean(smooth)) < float(ops.mean(rough))


def test_latent_generator_and_its_limits(tiny_model):
    from featviz.engine import render

    z = keras.Input((3,))
    out = keras.layers.Reshape((12, 12, 1))(keras.layers.Dense(144, activation="sigmoid")(z))
    generator = keras.Model(z, out, name="decoder")
    result = render(tiny_model, [unit("fc1", 0)], param=latent(generator), steps=20, progress=False)
    assert result.images.shape == (1, 12, 12, 1)
    with pytest.raises(ValueError, match="cannot.*Use penalties"):
        render(
            tiny_model,
            [unit("fc1", 0)],
            param=latent(generator),
            steps=2,
            regularizers=[reg.decay(0.1)],
            progress=False,
        )
    with pytest.raises(
        ValueError, match=r"makes images of shape \(12, 12, 1\), but the model takes"
    ):
        latent(generator).bind((28, 28, 1))


@pytest.mark.parametrize(
    "transform",
    [pad(2), jitter(2), rotate(10), scale(0.9, 1.1), preset("grey28"), preset("colour32")],
)
def test_transforms_keep_shape_and_range(transform):
    images = ops.convert_to_tensor(batch())
    out = ops.convert_to_numpy(center_crop(transform(images, backend.Rng(0, 3)), 10, 10))
    assert out.shape == (3, 10, 10, 3)
    assert out.min() >= 0.0 and out.max() <= 1.0
    if transform.name != "pad(2)":
        assert not np.allclose(out, ops.convert_to_numpy(images))


def test_jitter_is_a_whole_pixel_shift_and_seeded():
    images = ops.convert_to_tensor(batch((1, 8, 8, 1)))
    a = ops.convert_to_numpy(jitter(1)(images, backend.Rng(5, 1)))
    b = ops.convert_to_numpy(jitter(1)(images, backend.Rng(5, 1)))
    np.testing.assert_array_equal(a, b)
    src = ops.convert_to_numpy(images)[0, 2:6, 2:6, 0]
    shifts = [a[0, 2 + dy : 6 + dy, 2 + dx : 6 + dx, 0] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    assert any(np.allclose(s, src, atol=1e-6) for s in shifts)


def test_compose_names_and_order():
    t = compose([pad(1), jitter(1)])
    assert t.name == "pad(1), jitter(1)"
    assert ops.convert_to_numpy(t(ops.convert_to_tensor(batch()), backend.Rng(0, 0))).shape == (
        3,
        12,
        12,
        3,
    )


def penalty_of(name, images):
    measures = {
        "l1": lambda x: np.abs(x - 0.5).mean(),
        "l2": lambda x: ((x - 0.5) ** 2).mean(),
        "tv": lambda x: (np.diff(x, axis=1) ** 2).mean() + (np.diff(x, axis=2) ** 2).mean(),
    }
    return measures[name](images)


@pytest.mark.parametrize(
    ("regularizer", "measure"),
    [
        (reg.decay(0.2), "l2"),
        (reg.gaussian_blur(1.0), "tv"),
        (reg.bilateral(1.0, 0.3), "tv"),
        (reg.clip_norm(50), "l1"),
        (reg.clip_contribution(50), "l1"),
    ],
)
def test_each_image_edit_lowers_its_penalty(regularizer, measure):
    images = batch((2, 12, 12, 3))
    grad = ops.convert_to_tensor(batch((2, 12, 12, 3), seed=1) - 0.5)
    out = ops.convert_to_numpy(regularizer.edit(ops.convert_to_tensor(images), grad))
    assert out.shape == images.shape
    assert penalty_of(measure, out) < 0.9 * penalty_of(measure, images)


@pytest.mark.parametrize(
    ("regularizer", "measure"),
    [
        (reg.l1(0.5), "l1"),
        (reg.l2(5.0), "l2"),
        (reg.total_variation(5.0), "tv"),
    ],
)
def test_each_penalty_lowers_itself_in_a_render(tiny_model, regularizer, measure):
    from featviz.engine import render

    objectives = [channel("conv1", i) for i in (0, 1, 3)]
    plain = render(tiny_model, objectives, steps=60, learning_rate=0.1, progress=False)
    held = render(
        tiny_model,
        objectives,
        steps=60,
        learning_rate=0.1,
        regularizers=[regularizer],
        progress=False,
    )
    assert penalty_of(measure, held.images) < penalty_of(measure, plain.images)


def skimage_spatial_table(win_size, sigma):
    """scikit-image's spatial weights as its bilateral loop reads them (0.26).

    Its table is built on ``arange(-win_size // 2, win_size // 2 + 1)`` (one
    point longer than the window) and read row-major with the window's
    stride, so the weights it applies are not a centred Gaussian; we pass
    the same table to compare everything else exactly.
    """
    g = np.arange(-win_size // 2, win_size // 2 + 1)
    rr, cc = np.meshgrid(g, g, indexing="ij")
    table = np.exp(-0.5 * np.hypot(rr, cc) ** 2 / sigma**2).ravel()
    return np.array(
        [[table[kr * win_size + kc] for kc in range(win_size)] for kr in range(win_size)]
    )


@pytest.mark.parametrize(("channels", "mode"), [(1, "reflect"), (3, "reflect"), (3, "symmetric")])
def test_bilateral_matches_scikit_image(channels, mode):
    """Tolerance 1e-4: scikit-image looks colour weights up in a 10^6-bin table.

    Besides its spatial table, scikit-image measures colour distance as the
    Euclidean distance divided by the number of channels; sigma_color is
    scaled by the channel count to compare.
    """
    image = batch((1, 16, 16, channels), seed=channels)
    expected = denoise_bilateral(
        image[0].squeeze(-1) if channels == 1 else image[0],
        sigma_color=0.15,
        sigma_spatial=1.2,
        win_size=5,
        mode=mode,
        bins=1_000_000,
        channel_axis=None if channels == 1 else -1,
    )
    ours = reg.bilateral_filter(
        ops.convert_to_tensor(image),
        1.2,
        0.15 * channels,
        win_size=5,
        mode=mode,
        weights=skimage_spatial_table(5, 1.2),
    )
    ours = ops.convert_to_numpy(ours)[0]
    np.testing.assert_allclose(ours.squeeze(-1) if channels == 1 else ours, expected, atol=1e-4)


def test_bilateral_default_weights_are_a_centred_gaussian():
    k = reg.spatial_kernel(5, 1.0)
    assert k[2, 2] == k.max() == 1.0 and np.allclose(k, k.T) and np.allclose(k, k[::-1, ::-1])


def test_bilateral_keeps_an_edge_that_blur_smears():
    step = np.zeros((1, 12, 12, 1), "float32")
    step[:, :, 6:] = 1.0
    x = ops.convert_to_tensor(step)
    kept = ops.convert_to_numpy(reg.bilateral_filter(x, 1.0, 0.1))
    smeared = ops.convert_to_numpy(reg.blur(x, 1.0))
    assert np.abs(kept - step).max() < 0.01 < np.abs(smeared - step).max()


def test_sliced_activations_equal_full_model(tiny_model):
    images = ops.convert_to_tensor(batch((4, 12, 12, 1)))
    for layer, chans in (("conv2", [5, 0, 3, 3]), ("fc1", [1, 7, 2, 0])):
        make = channel if layer.startswith("conv") else unit
        chunk = [make(layer, c) for c in chans]
        sliced = plan_slice(tiny_model, chunk, [layer])
        assert sliced is not None and sliced.layer == layer
        got = ops.convert_to_numpy(Reader(tiny_model, [layer], sliced)(images)[layer])
        full = ops.convert_to_numpy(Reader(tiny_model, [layer], None)(images)[layer])
        want = np.stack([full[i, ..., c] for i, c in enumerate(chans)])[..., None]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_slicing_falls_back_when_an_image_reads_several_channels(tiny_model):
    chunk = [0.5 * channel("conv2", 1) + 0.5 * channel("conv2", 2), channel("conv2", 0)]
    assert plan_slice(tiny_model, chunk, ["conv2"]) is None
    assert plan_slice(tiny_model, [channel("pool1", 0)], ["pool1"]) is None


def test_maco_keeps_the_datasets_amplitude_spectrum(tiny_model):
    from featviz.data.prepare import amplitude_spectrum
    from featviz.engine import channel, maco, render

    rng = np.random.default_rng(0)
    smooth = np.clip(rng.normal(0.5, 0.15, size=(40, 12, 12, 1)), 0, 1)
    magnitude = amplitude_spectrum((smooth * 255).astype(np.uint8))
    param = maco(magnitude).bind((12, 12, 1))
    phases = keras.ops.convert_to_tensor(param.init(4, seed=1))
    image = keras.ops.convert_to_numpy(param.spectral_image(phases))
    spectrum = np.abs(np.fft.fft2(np.moveaxis(image, -1, 1), axes=(2, 3)))
    np.testing.assert_allclose(spectrum, np.broadcast_to(magnitude, spectrum.shape), atol=1e-3)
    np.testing.assert_allclose(image.mean(axis=(1, 2, 3)), magnitude[0, 0, 0] / 144, rtol=1e-4)
    result = render(
        tiny_model,
        [channel("conv1", 0)] * 2,
        param=maco(magnitude),
        steps=30,
        learning_rate=0.1,
        progress=False,
    )
    assert result.images.min() >= 0 and result.images.max() <= 1
    assert (result.values >= result.traces[:, 0]).all()
    # the rendered (clipped) image keeps the spectrum's shape: its DC and energy stay close
    rendered = np.abs(np.fft.fft2(np.moveaxis(result.images, -1, 1), axes=(2, 3)))
    assert np.abs(rendered - magnitude).mean() / magnitude.mean() < 0.3
    with pytest.raises(ValueError, match=r"amplitude spectrum of shape \(1, 12, 12\)"):
        maco(magnitude[:, :8, :8]).bind((12, 12, 1))
    with pytest.raises(ValueError, match="cannot be written back into MACO's phases"):
        maco(magnitude).bind((12, 12, 1)).from_image(image)
