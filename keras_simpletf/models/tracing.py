"""Task models that build their training state before `fit` traces its first step.

Outside a `tf.distribute` strategy's scope, Keras 3's TensorFlow trainer
leaves the optimizer's slots and the compiled loss's and metrics' state
unbuilt until the first trace of its train (or test) function, "for
backwards compatibility". A `tf.function` that creates variables in its
first trace is traced a second time (tensorflow/tensorflow#48851), so the
first step of a notebook's `fit` pays two traces. Inside a strategy's
scope Keras builds that state first, from one batch it draws; this mixin
has Keras build it from the shapes of the data's batches outside one. On
2 CPU cores the first `fit` step of the pretrained MiniLM's classifier
takes 10-12 s instead of 18-20 s, and that of our small encoder half its
time (`benchmarks/first_step.py`).
"""


class BuildsBeforeTracing:
    """Mixin for a `keras.Model`: `fit` and `evaluate` trace their step once.

    Put it before `keras.Model` among the bases. While the optimizer, the
    compiled loss or the compiled metrics are unbuilt, Keras' symbolic build
    runs on the shapes and dtypes of the data's batches (the dataset's
    `element_spec`): no batch is drawn, so a shuffled dataset's epochs see
    the batches they see without it. Under a strategy, or once built,
    Keras' own path runs.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is not None or not self._training_state_unbuilt():
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        if data_batch is None:
            data_batch = iterator._get_iterator().element_spec
        self._symbolic_build(data_batch=data_batch)

    def _training_state_unbuilt(self):
        parts = (self.optimizer, self._compile_loss, self._compile_metrics)
        return any(part is not None and not part.built for part in parts)
