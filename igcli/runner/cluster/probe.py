"""The head's address checked before Ray is handed it, within PROBE_SECONDS: something must
listen there (TCP), answer Ray's GCS over gRPC (a web server does not), and accept this
machine's token. ray.init itself retries a wrong token for 25 s, a web server for minutes, and
cannot be interrupted meanwhile; this check says which of the three it is in one line.

The same gRPC call, every WATCH_SECONDS during the run, tells whether the head still answers
(watch.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from igcli.errors import IgcliError

CONNECT_SECONDS = 5.0  # the TCP connection
ANSWER_SECONDS = 5.0  # the GCS's answer over gRPC
PROBE_SECONDS = CONNECT_SECONDS + ANSWER_SECONDS
START = "start the head with `ray start --head --port=PORT`, or give its HOST:PORT"
TOKEN_PLACES = "RAY_AUTH_TOKEN, a file named by RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token"


class NotAnswering(IgcliError):
    """The head cannot be reached, does not speak Ray, or refuses this machine's token."""


def token_auth() -> bool:
    """Whether this driver sends a token: Ray sends one to a named address only with RAY_AUTH_MODE=token."""
    return os.environ.get("RAY_AUTH_MODE", "").strip().lower() == "token"


def find_token() -> tuple[str, str]:
    """-> (the token Ray would send, where it comes from), in Ray's order; ('', '') when none."""
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return os.environ["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN"
    named = os.environ.get("RAY_AUTH_TOKEN_PATH", "").strip()
    for path, source in ((Path(named), f"RAY_AUTH_TOKEN_PATH ({named})"),) if named else ((Path.home() / ".ray" / "auth_token", "~/.ray/auth_token"),):
        try:
            text = path.expanduser().read_text().strip()
        except OSError:
            continue
        if text:
            return text, source
    return "", ""


def check_token(address: str) -> str:
    """With RAY_AUTH_MODE=token, the token's source; Ray aborts the whole process (a C++ check)
    when token mode is on and no token is found, so that case never reaches Ray."""
    if not token_auth():
        return ""
    token, source = find_token()
    if not token:
        raise NotAnswering(f"--ray {address}: RAY_AUTH_MODE=token but no token is set here; copy the head's token into {TOKEN_PLACES}")
    return source


def gcs_answer(address: str, timeout: float) -> tuple[str, str]:
    """One GetClusterId call to the GCS at address -> ('', '') when it answered, else (gRPC
    status name, details)."""
    import grpc
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

    metadata = [("authorization", f"Bearer {find_token()[0]}")] if token_auth() and find_token()[0] else []
    channel = grpc.insecure_channel(address)
    try:
        request = gcs_service_pb2.GetClusterIdRequest()  # type: ignore[attr-defined]
        call = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel).GetClusterId.future(request, timeout=timeout, metadata=metadata)
        try:
            call.result()
        except grpc.RpcError as error:
            return error.code().name, " ".join(str(error.details() or "").split())
        finally:
            call.cancel()
        return "", ""
    finally:
        channel.close()


def probe(address: str) -> None:
    """Raise NotAnswering in one line, within PROBE_SECONDS, unless a Ray head that accepts this
    machine's token answers at HOST:PORT. Python all through: Ctrl-C ends it at once."""
    host, _, port = address.rpartition(":")
    source = check_token(address)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except socket.gaierror as error:
        raise NotAnswering(f"--ray {address}: no such host ({error.strerror or error}); give the head's HOST:PORT") from None
    except TimeoutError:
        raise NotAnswering(f"--ray {address}: nothing answered within {CONNECT_SECONDS:g} s (a firewall, or no such machine); {START}") from None
    except OSError as error:
        raise NotAnswering(f"--ray {address}: no Ray cluster answers there ({error.strerror or error}); {START}") from None
    code, details = gcs_answer(address, ANSWER_SECONDS)
    if code == "UNAUTHENTICATED":
        if source:
            raise NotAnswering(f"--ray {address}: the cluster refused the token from {source}; use the head's own token (the one it was started with)")
        raise NotAnswering(f"--ray {address}: the cluster requires token authentication; set RAY_AUTH_MODE=token here and the head's token in {TOKEN_PLACES}")
    if code == "DEADLINE_EXCEEDED":
        raise NotAnswering(
            f"--ray {address}: something listens there but did not answer as a Ray cluster within {ANSWER_SECONDS:g} s; give the head's GCS port "
            "(`ray start --head --port`, 6379 by default)"
        )
    if code:
        raise NotAnswering(
            f"--ray {address}: something listens there but it is not a Ray cluster's head ({code}: {cut_words(details)}); give the head's GCS port "
            "(`ray start --head --port`, 6379 by default)"
        )


def cut_words(text: str, limit: int = 160) -> str:
    """At a word, never mid-word or mid-URL."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."
