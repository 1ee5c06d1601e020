import numpy as np
import pytest
from PIL import Image

from featviz.report.pictures import crop, kernels_image, save_png, strip, trace_svg


def test_a_png_keeps_its_pixels_and_its_bytes(tmp_path):
    image = np.linspace(0, 1, 12).reshape(3, 4, 1)
    image[0, 0, 0] = np.nan
    a, b = save_png(image, tmp_path / "a.png"), save_png(image, tmp_path / "b.png", scale=1)
    assert a.read_bytes() == b.read_bytes()  # no timestamp or other metadata
    pixels = np.asarray(Image.open(a))
    assert pixels.shape == (3, 4) and pixels[2, 3] == 255 and pixels[0, 1] == round(255 / 11)
    assert pixels[0, 0] == round(0.93 * 255)  # NaN is the background
    big = np.asarray(Image.open(save_png(np.ones((2, 2, 3)) * 0.5, tmp_path / "c.png", scale=3)))
    assert big.shape == (6, 6, 3)
    with pytest.raises(ValueError, match=r"bad.png: expected an \(H, W, 1\) or \(H, W, 3\)"):
        save_png(np.zeros((4, 4)), tmp_path / "bad.png")


def test_a_strip_centres_crops_of_different_sizes():
    out = strip([np.ones((3, 3, 1)), np.zeros((1, 2, 1))], gap=1)
    assert out.shape == (3, 7, 1)
    assert np.all(out[:, :3] == 1) and np.isnan(out[:, 3]).all()
    assert out[1, 4, 0] == 0 and out[1, 5, 0] == 0 and np.isnan(out[0, 4, 0])
    assert crop(np.arange(16).reshape(4, 4, 1), (1, 2, 3, 4))[..., 0].tolist() == [[6, 7], [10, 11]]


def test_kernels_are_scaled_each_to_its_range():
    kernel = np.zeros((2, 2, 1, 3))
    kernel[0, 0, 0, 0], kernel[1, 1, 0, 1] = 5.0, -1.0
    image = kernels_image(kernel, columns=2)
    assert image.shape == (5, 5, 1)
    assert image[0, 0, 0] == 1 and image[0, 1, 0] == 0  # filter 0: its peak is white
    assert image[1, 4, 0] == 0 and image[0, 3, 0] == 1  # filter 1: its trough is black
    assert np.all(image[3:, :2] == 0.5)  # filter 2 is constant: mid-grey


def test_a_trace_is_an_svg_line_with_its_range():
    svg = trace_svg([0, 10, 20], [0.0, 2.0, 3.0], mark=10)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<polyline") == 1 and "plateau 10" in svg
    assert ">3<" in svg and ">0<" in svg and "20 steps" in svg

    stopped = trace_svg([0, 10, 20], [0.0, 2.0, float("nan")])
    assert "nan" not in stopped and "10 steps" in stopped
