"""featviz: what do the units of a CNN respond to?"""

__version__ = "0.1.0"
