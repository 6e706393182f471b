"""Errors raised by the pure estimation core.

Exception tree::

    DomainError (ValueError)
     +-- InvalidInputError      an input is out of range or inconsistent with another input;
                                carries the offending field name so the API can point at it
     +-- UnsupportedError       a well-formed request the core cannot answer
                                (e.g. an unknown Hugging Face ``model_type``)
"""

from __future__ import annotations


class DomainError(ValueError):
    """Base class of every error the estimation core raises on purpose."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidInputError(DomainError):
    """An input value is out of range, or inconsistent with another input."""


class UnsupportedError(DomainError):
    """A well-formed request that the core cannot answer."""
