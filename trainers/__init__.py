"""Training jobs (absl apps) for keras_simpletf models."""
