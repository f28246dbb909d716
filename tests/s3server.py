"""A real S3-compatible server on loopback for the tests: moto's standalone server in its own
process (as s3fs's own tests run it), and the environment a user would set to reach it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def s3_server(**server_env):
    """-> the environment of a user of the server (AWS_ENDPOINT_URL and keys); server_env:
    settings of the server itself (INITIAL_NO_AUTH_ACTION_COUNT=0: every key is checked)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **server_env},
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.time() < deadline, "moto's server did not start"
                time.sleep(0.2)
        yield {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,  # the machine's own profiles stay out of it
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def environment(values: dict):
    """os.environ with `values` set, restored afterwards; fsspec's cached S3 clients forgotten
    on both sides (they hold the endpoint they were made with)."""
    import s3fs

    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        s3fs.S3FileSystem.clear_instance_cache()
