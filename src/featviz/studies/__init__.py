"""The experiments of the study, each a function from model and data to figures and tables."""
