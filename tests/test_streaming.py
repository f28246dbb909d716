import threading
import time

import pytest

from igcli.streaming import BackgroundWriter, prefetch


def test_prefetch_keeps_order_and_stays_bounded():
    produced = []

    def items():
        for i in range(10):
            produced.append(i)
            yield i

    stream = prefetch(items(), depth=2)
    assert next(stream) == 0
    time.sleep(0.2)
    # one handed out, two waiting in the queue, one held by the blocked producer: never all ten
    assert len(produced) <= 4
    assert list(stream) == list(range(1, 10))


def test_prefetch_raises_the_producers_error_in_the_consumer():
    def items():
        yield 1
        raise OSError("disk gone")

    stream = prefetch(items())
    assert next(stream) == 1
    with pytest.raises(OSError, match="disk gone"):
        next(stream)


def test_background_writer_writes_in_order_off_the_main_thread():
    written, threads = [], set()

    def write(item):
        threads.add(threading.current_thread().name)
        written.append(item)

    writer = BackgroundWriter(write, depth=1)
    for i in range(20):
        writer.submit(i)
    writer.close()
    assert written == list(range(20)) and threads == {"igcli-write"}


def test_background_writer_reports_a_write_error():
    def write(item):
        raise PermissionError("read-only")

    writer = BackgroundWriter(write)
    writer.submit(1)
    with pytest.raises(PermissionError):
        writer.close()
