"""Constrained field types reused across the wire contracts."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

#: Largest parameter count the service accepts: 1e15 is three orders of magnitude beyond any
#: model trained to date and keeps every product of counts far from float overflow.
MAX_PARAMETERS = 10**15
#: Largest token count accepted (1e17, about 5,000x Llama 3's 15T tokens).
MAX_TOKENS = 10**17

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9.\-]{0,62}[a-z0-9])?$"

Slug = Annotated[
    str,
    StringConstraints(pattern=SLUG_PATTERN),
    Field(description="Lower-case letters, digits, '.' and '-'; 1-64 characters."),
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Source = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000)]
Dimension = Annotated[int, Field(ge=1, le=10_000_000)]
Parameters = Annotated[int, Field(ge=1, le=MAX_PARAMETERS)]
Tokens = Annotated[int, Field(ge=1, le=MAX_TOKENS)]


def _finite(value: float) -> float:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("must be a finite number")
    return value


FiniteFloat = Annotated[float, AfterValidator(_finite)]
