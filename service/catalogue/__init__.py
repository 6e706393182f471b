"""Versioned seed data shipped with the package: models and hardware, each entry sourced."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any


@dataclass(frozen=True, slots=True)
class SeedFile:
    """One seed data file: its version and its entries (plain JSON objects keyed by slug)."""

    kind: str
    version: str
    entries: tuple[dict[str, Any], ...]


def load_seed(kind: str) -> SeedFile:
    """Read ``data/<kind>.json`` from the package (``models`` or ``hardware``)."""
    text = resources.files(__package__).joinpath("data", f"{kind}.json").read_text("utf-8")
    document = json.loads(text)
    return SeedFile(
        kind=kind,
        version=str(document["catalogue_version"]),
        entries=tuple(document[kind]),
    )


def digest(entry: dict[str, Any]) -> str:
    """A stable fingerprint of one seed entry (canonical JSON, SHA-256)."""
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
