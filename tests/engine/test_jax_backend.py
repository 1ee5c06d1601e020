"""The JAX path (the one GPU machines use), checked on the CPU against the TensorFlow path."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("jax")

SCRIPT = r"""
import json, sys
import numpy as np
import keras
from featviz.engine import channel, class_logit, render, default_set, preset
from featviz.models.build import build_model
from featviz.models.spec import Architecture

arch = Architecture(conv_filters=(4, 6), kernel_size=3, dense_units=(8,), dropout=0.0)
model = build_model(arch, (12, 12, 1), 3, seed=3)
weights = np.load(sys.argv[1])
model.set_weights([weights[f"w{i}"] for i in range(len(weights.files))])
objectives = [channel("conv2", i) for i in range(6)] + [class_logit("fc2", 1)]
plain = render(model, objectives, steps=20, learning_rate=0.1, seed=1, progress=False)
styled = render(model, objectives[:3], steps=8, transforms=preset("grey28"),
                regularizers=default_set(), seed=1, progress=False)
low = render(model, objectives, steps=20, learning_rate=0.1, seed=1, progress=False,
             precision="bfloat16")
np.savez(sys.argv[2], images=plain.images, traces=plain.traces, styled=styled.values,
         low=low.values, low_images=low.images)
print(json.dumps({"backend": keras.backend.backend()}))
"""


def run_with(backend, weights, out, tmp_path):
    script = tmp_path / "render.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, str(script), str(weights), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["backend"] == backend
    return np.load(out)


def test_jax_renders_what_tensorflow_renders(tmp_path, tiny_model):
    weights = tmp_path / "weights.npz"
    np.savez(weights, **{f"w{i}": w for i, w in enumerate(tiny_model.get_weights())})
    tf_out = run_with("tensorflow", weights, tmp_path / "tf.npz", tmp_path)
    jax_out = run_with("jax", weights, tmp_path / "jax.npz", tmp_path)
    np.testing.assert_allclose(
        jax_out["traces"][:, 0], tf_out["traces"][:, 0], rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        jax_out["traces"][:, -1], tf_out["traces"][:, -1], rtol=2e-3, atol=2e-3
    )
    assert np.isfinite(jax_out["styled"]).all()
    # steps in bfloat16 (the GPU's fast path) run on both and climb as high as float32's
    for out in (tf_out, jax_out):
        assert not np.array_equal(out["low_images"], out["images"])
        assert out["low"].mean() >= 0.97 * out["traces"][:, -1].mean()
