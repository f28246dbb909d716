"""TensorFlow is imported here, lazily, so that `igcli --help` stays instant."""

import atexit
import os
import shutil
import sys
import tempfile

_debug = False
_private_tmp: str | None = None


def set_debug(debug: bool) -> None:
    global _debug
    _debug = debug


def tensorflow():
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    _use_private_tempdir()
    if _debug:
        tf = _import_without_pyplot()
        _configure_gpus(tf)
        return tf
    # TensorFlow's native start-up chatter (CUDA probes on machines without a GPU) is written
    # straight to file descriptor 2, before any log level applies: hide it during start-up only.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        tf = _import_without_pyplot()
        _configure_gpus(tf)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return tf


def _import_without_pyplot():
    """Keras imports matplotlib.pyplot at start-up when matplotlib is installed, for plotting
    helpers igcli never calls: 0.5 s of every run here. A None entry in sys.modules makes that
    import fail quietly (Keras catches the ImportError); removed afterwards, so that pyplot can
    still be imported later (igcli itself uses only matplotlib.colormaps)."""
    hidden = "matplotlib.pyplot" not in sys.modules
    if hidden:
        sys.modules["matplotlib.pyplot"] = None  # type: ignore[assignment]  # None is how a blocked import is spelled
    try:
        import keras  # noqa: F401 - imported here while pyplot is hidden
        import tensorflow as tf
    finally:
        if hidden:
            sys.modules.pop("matplotlib.pyplot", None)
    return tf


def _configure_gpus(tf) -> None:
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised: growth can only be set before first use
            pass


def _use_private_tempdir() -> None:
    """TensorFlow's autograph writes the converted source of every traced function to a
    __autograph_generated_file*.py in the temporary directory and deletes it only from an atexit
    handler, which the console script's fast exit skips: an hourly job would leave thousands.
    Everything this process puts in the temporary directory goes into one folder of its own,
    removed at exit (remove_private_tempdir), so a run leaves the directory as it found it."""
    global _private_tmp
    if _private_tmp is None:
        _private_tmp = tempfile.mkdtemp(prefix="igcli-")
        tempfile.tempdir = _private_tmp
        atexit.register(remove_private_tempdir)


def remove_private_tempdir() -> None:
    global _private_tmp
    if _private_tmp is not None:
        shutil.rmtree(_private_tmp, ignore_errors=True)
        tempfile.tempdir = None
        _private_tmp = None


def keras():
    tensorflow()
    import keras as k

    return k
