"""Export and serving of keras_simpletf models (TensorFlow Serving compatible)."""
