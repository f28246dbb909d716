"""Errors that reach the user as one line, with the exit codes the README gives them."""

from __future__ import annotations

import re


class IgcliError(Exception):
    """A failure of the whole run (exit 1)."""

    exit_code = 1


class UsageProblem(IgcliError):
    """A bad option, or a MODEL/INPUTS that cannot be used (exit 2)."""

    exit_code = 2


class InstanceError(Exception):
    """One instance cannot be explained; the run goes on and lists it."""


# Parts of a TensorFlow runtime error that locate it in TensorFlow's graphs, not in the user's
# model: kept for --debug, dropped from the one line.
_TRACE = re.compile(r"Detected at node (?P<node>\S+) defined at \(most recent call last\):.*?(?=\n\S|\Z)", re.S)
_TRACE_LINE = re.compile(r"^\s*(File \".*|<stack traces unavailable>.*|.*\bline \d+, in .*)$", re.M)
_NODE = re.compile(r"\{\{node (?P<node>[^}]+)\}\}")
_NOISE = re.compile(r"Graph execution error:|\{\{function_node [^}]*\}\}|\[\[.*?\]\]|\[Op:[^\]]*\]")
_WRAPPERS = re.compile(r"^((Stateful)?PartitionedCall(_\d+)?|gradient_tape|while)$")


def tensorflow_error_line(error: Exception) -> str:
    """A TensorFlow runtime error in words a user can act on: its kind, the layer or op it came
    from and TensorFlow's own explanation (shapes included), without the graph trace."""
    text = getattr(error, "message", None) or str(error)
    node = None
    for pattern in (_TRACE, _NODE):
        found = pattern.search(text)
        if found and node is None:
            node = found.group("node")
    text = _NOISE.sub(" ", _TRACE_LINE.sub(" ", _TRACE.sub(" ", text)))
    what = " ".join(text.split()) or "no message"
    where = ""
    if node:
        parts = [part for part in node.split("/") if not _WRAPPERS.match(part)]
        where = f" at {'/'.join(parts[-3:]) or node}"
    return f"TensorFlow failed{where} ({type(error).__name__}): {what[:300]}"
