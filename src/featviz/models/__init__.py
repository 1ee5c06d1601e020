"""CNN architectures built from configuration, and their training."""
