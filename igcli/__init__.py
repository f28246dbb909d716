"""igcli: Integrated Gradients for TensorFlow/Keras models, from the command line."""

__version__ = "0.4.0"
