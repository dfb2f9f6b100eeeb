"""Initializer handling shared by layers that create several sublayers."""

import keras


def clone_initializer(initializer):
    """A fresh copy of `initializer`, so sublayers never share one instance.

    Keras initializers without a seed draw new values on each call only when
    each sublayer holds its own instance.
    """
    initializer = keras.initializers.get(initializer)
    return initializer.__class__.from_config(initializer.get_config())
