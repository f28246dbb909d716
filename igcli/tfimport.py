"""TensorFlow is imported here, lazily, so that `igcli --help` stays instant."""

import os
import sys

_debug = False


def set_debug(debug: bool) -> None:
    global _debug
    _debug = debug


def tensorflow():
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if _debug:
        import tensorflow as tf

        _configure_gpus(tf)
        return tf
    # TensorFlow's native start-up chatter (CUDA probes on machines without a GPU) is written
    # straight to file descriptor 2, before any log level applies: hide it during start-up only.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        _configure_gpus(tf)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return tf


def _configure_gpus(tf) -> None:
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised: growth can only be set before first use
            pass


def keras():
    tensorflow()
    import keras as k

    return k
