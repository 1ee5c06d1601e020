"""The error every failure that a user can act on derives from (besides ValueError and OSError).

The ``featviz`` command reports these in one line and exits 1; any other
exception is a bug and keeps its traceback.
"""


class FeatvizError(Exception):
    """A run that cannot go on for a reason the message names (not a bug)."""
