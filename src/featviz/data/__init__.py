"""Datasets: where they come from, how they are verified, read and prepared."""
