"""Import Keras without the optional packages it and TensorFlow load for parts featviz never
uses.

Where they are installed, ``import keras`` also imports scikit-learn (for Keras's
scikit-learn wrappers, and SciPy's statistics with it), pandas (to accept DataFrames in
``fit``) and, on the TensorFlow backend, JAX (for TensorFlow Lite's conversion of JAX
functions). Each guards its import and goes without where the package is missing. Hidden
while Keras imports, they cost a job nothing: on the 2-core Xeon ``import keras`` took 6.3 s
with them and 4.1 s without, and a job of the tests' small DAGs spends about 7.6 s of CPU in
all. Once Keras is in, the packages import as usual (the dictionary study's scikit-learn).

The ``featviz`` command does this before its first use of Keras; a program that imports
featviz as a library keeps its own imports.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

#: What Keras and TensorFlow import for parts featviz does not use.
OPTIONAL = ("sklearn", "pandas")
#: JAX too where TensorFlow is the backend (named in ``KERAS_BACKEND``, as every job of the
#: workflow has it): on the JAX backend Keras needs it.
OPTIONAL_ON_TENSORFLOW = ("jax",)


def import_keras() -> ModuleType:
    """Keras, imported with :data:`OPTIONAL` hidden (unless something imported them first)."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    names = OPTIONAL
    if os.environ.get("KERAS_BACKEND") == "tensorflow":
        names += OPTIONAL_ON_TENSORFLOW
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        import keras
    finally:
        for name in hidden:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
    return keras
