"""kerasfix: find and repair mismatches between a saved Keras model and its training data."""

__version__ = "0.1.0"
