"""What happens to the cluster while the pipeline runs, watched from the driver by two threads.

- The head: one gRPC call to its GCS every WATCH_SECONDS (probe.py). When it has not answered for
  HEAD_LOST_SECONDS, the driver's main thread gets SIGUSR1 and raises HeadLost, so the run ends
  with igcli's one line. Left alone, Ray's core worker ends the whole process 60 s after it loses
  the head, with exit 1 and not a word (its log goes where igcli hides Ray's chatter).
- The nodes and the workers: every SAMPLE_SECONDS, the alive nodes (each change kept with its time,
  for run.json) and this job's worker actors: their node and pid, and how often Ray restarted them.

Both only read: they never change what the pipeline does."""

from __future__ import annotations

import signal
import threading
import time

from igcli.errors import IgcliError
from igcli.runner.cluster.probe import cut_words, gcs_answer

WATCH_SECONDS = 1.0
HEAD_LOST_SECONDS = 15.0
SAMPLE_SECONDS = 2.0
WORKER_CLASS = "ExplainWorker"  # in the class name Ray Data gives the pool's actors


class HeadLost(IgcliError):
    """The head stopped answering mid-run."""


class Watch:
    """Started when the pipeline starts, stopped when the driver has gathered its rows."""

    def __init__(self, ray, address: str, job: str):
        self.ray, self.address, self.job = ray, address, job
        self.started = time.time()
        self.nodes: list[dict] = []  # each change of the alive nodes: seconds after the start, alive, joined, left
        self.alive: set[str] = set()
        self.hosts: dict[str, str] = {}  # node id -> host name
        self.actors: dict[str, dict] = {}  # actor id -> node, pid, restarts (the latest seen)
        self.pids: dict[tuple[str, int], str] = {}  # (host, pid) of every incarnation seen -> node id
        self.silent_since: float | None = None
        self.lost = ""
        self.retried: int | None = None  # tasks that ran again, read at the end (retried_tasks)
        self.done = threading.Event()
        self.previous = None
        if threading.current_thread() is threading.main_thread():  # a handler can only be set there
            self.previous = signal.signal(signal.SIGUSR1, self._raise_lost)
        self.sample()
        self.threads = [threading.Thread(target=loop, name=f"igcli-{loop.__name__}", daemon=True) for loop in (self._watch_head, self._sample_loop)]
        for thread in self.threads:
            thread.start()

    def _raise_lost(self, _signum, _frame):
        if self.lost and not self.done.is_set():
            raise HeadLost(self.lost)

    def _watch_head(self) -> None:
        while not self.done.wait(WATCH_SECONDS):
            code, details = gcs_answer(self.address, 2 * WATCH_SECONDS)
            now = time.monotonic()
            if not code:
                self.silent_since = None
                continue
            self.silent_since = self.silent_since or now
            if now - self.silent_since >= HEAD_LOST_SECONDS and not self.lost:
                self.lost = (
                    f"the Ray cluster's head at {self.address} stopped answering during the run (for {HEAD_LOST_SECONDS:g} s: {code}"
                    f"{': ' + cut_words(details, 120) if details else ''})"
                )
                if self.previous is not None:
                    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)
                return

    def _sample_loop(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            if self.silent_since is None:  # Ray's calls block while the head is gone
                self.sample()

    def sample(self) -> None:
        """The alive nodes (a change kept with its time) and this job's worker actors."""
        try:
            nodes = self.ray.nodes()
            actors = _worker_actors(self.job)
        except Exception:  # noqa: BLE001 - a sample missed is not the run's failure
            return
        alive = {node["NodeID"] for node in nodes if node.get("Alive")}
        self.hosts.update({node["NodeID"]: node.get("NodeManagerHostname", "") for node in nodes})
        if alive != self.alive or not self.nodes:
            self.nodes.append(
                {
                    "seconds": round(time.time() - self.started, 3),
                    "alive": len(alive),
                    "joined": sorted(alive - self.alive),
                    "left": sorted(self.alive - alive),
                }
            )
            self.alive = alive
        for actor_id, actor in actors.items():
            node, pid = actor.get("Address", {}).get("NodeID", ""), int(actor.get("Pid") or 0)
            seen = self.actors.setdefault(actor_id, {"restarts": 0})
            seen["restarts"] = max(seen["restarts"], int(actor.get("NumRestarts") or 0))
            if pid and node:
                self.pids[(self.hosts.get(node, ""), pid)] = node

    def stop(self) -> None:
        self.done.set()
        if self.previous is not None:
            signal.signal(signal.SIGUSR1, self.previous)
            self.previous = None
        if not self.lost and self.silent_since is None and self.retried is None:  # once, while the head answers (Ray's calls wait for it)
            self.sample()
            self.retried = retried_tasks(self.address, self.job)

    def node_of(self, worker: str) -> str:
        """A worker's node id from its 'host:pid' ('' when no sample saw that process)."""
        host, _, pid = worker.rpartition(":")
        return self.pids.get((host, int(pid) if pid.isdigit() else 0), "")

    @property
    def lost_workers(self) -> int:
        """Worker processes that died and were started again (Ray's restarts of the pool's actors)."""
        return sum(actor["restarts"] for actor in self.actors.values())


def _worker_actors(job: str) -> dict:
    from ray._private import state

    return {actor_id: actor for actor_id, actor in state.actors().items() if actor.get("JobID") == job and WORKER_CLASS in str(actor.get("ActorClassName", ""))}


def retried_tasks(address: str, job: str) -> int | None:
    """Tasks of this job that ran more than once (Ray's task events: an attempt number above 0),
    actors' starts aside (lost_workers counts those); None when the GCS does not say."""
    import grpc
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

    from igcli.runner.cluster.probe import find_token, token_auth

    metadata = [("authorization", f"Bearer {find_token()[0]}")] if token_auth() and find_token()[0] else []
    channel = grpc.insecure_channel(address)
    try:
        request = gcs_service_pb2.GetTaskEventsRequest()  # type: ignore[attr-defined]
        reply = gcs_service_pb2_grpc.TaskInfoGcsServiceStub(channel).GetTaskEvents(request, timeout=5, metadata=metadata)
    except grpc.RpcError:
        return None
    finally:
        channel.close()
    retried = set()
    for event in reply.events_by_task:
        if event.job_id.hex() == job and event.attempt_number > 0 and event.task_info.type not in (1, 3):  # not an actor's start, not the driver
            retried.add(event.task_id)
    return len(retried)
