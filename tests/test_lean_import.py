"""The ``featviz`` command imports Keras without scikit-learn, pandas and (on TensorFlow)
JAX, which import as usual afterwards. Each case runs in a fresh interpreter: this one has
imported them all already."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, sys
{before}
from featviz.lean_import import import_keras
keras = import_keras()
loaded = {{n: n in sys.modules for n in ("sklearn", "pandas", "jax", "tensorflow")}}
x = keras.ops.convert_to_numpy(keras.layers.Dense(2)(keras.ops.ones((1, 3)))).shape
import sklearn.decomposition
print(json.dumps({{"loaded": loaded, "out": list(x), "backend": keras.backend.backend()}}))
"""


def probe(backend: str, before: str = "") -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend}
    run = subprocess.run(
        [sys.executable, "-c", PROBE.format(before=before)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_keras_on_tensorflow_imports_none_of_them_and_they_import_after():
    found = probe("tensorflow")
    assert found["backend"] == "tensorflow" and found["out"] == [1, 2]
    assert found["loaded"] == {"sklearn": False, "pandas": False, "jax": False, "tensorflow": True}


def test_what_the_program_imported_first_stays():
    found = probe("tensorflow", before="import sklearn, pandas")
    assert found["loaded"]["sklearn"] and found["loaded"]["pandas"]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_the_jax_backend_keeps_jax():
    found = probe("jax")
    assert found["backend"] == "jax" and found["out"] == [1, 2]
    assert found["loaded"]["jax"] and not found["loaded"]["sklearn"]
