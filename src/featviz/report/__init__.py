"""The report: numbered figures and tables assembled from the workflow's outputs."""
