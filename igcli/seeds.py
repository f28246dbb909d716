"""Random draws per instance, seeded by --seed and the instance's id, never its position: a folder
that grew, another order of work or another split across workers gives every instance the same
numbers."""

from __future__ import annotations

import hashlib

import numpy as np


def instance_rng(seed: int, ident: str, purpose: str) -> np.random.Generator:
    """purpose keeps the draws of different uses (baselines, noise, reference samples) apart."""
    digest = hashlib.sha256(f"{purpose}\0{ident}".encode()).digest()
    return np.random.default_rng([int(seed), *np.frombuffer(digest[:16], np.uint32).tolist()])
