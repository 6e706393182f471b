"""Optimistic concurrency: strong ETags from a row's version, checked against ``If-Match``."""

from __future__ import annotations

from dataclasses import dataclass

from service.usecases.errors import PreconditionFailed, PreconditionRequired


def etag(version: int) -> str:
    """The strong entity tag of a resource at ``version`` (RFC 9110, sec. 8.8.3)."""
    return f'"v{version}"'


@dataclass(frozen=True, slots=True)
class Precondition:
    """A parsed ``If-Match`` header: ``*`` or a list of entity tags."""

    any_version: bool
    tags: frozenset[str]

    @classmethod
    def parse(cls, header: str | None) -> Precondition:
        """Parse ``If-Match``; a missing header is 428 (RFC 6585, sec. 3)."""
        if header is None or not header.strip():
            raise PreconditionRequired(
                "This update needs an If-Match header with the resource's current ETag.",
                field="header.If-Match",
            )
        value = header.strip()
        if value == "*":
            return cls(any_version=True, tags=frozenset())
        return cls(any_version=False, tags=frozenset(t.strip() for t in value.split(",")))

    def check(self, version: int) -> None:
        """Strong comparison (RFC 9110, sec. 13.1.1): weak tags never match."""
        if self.any_version or etag(version) in self.tags:
            return
        raise PreconditionFailed(
            f"If-Match does not match the current ETag {etag(version)}.",
            field="header.If-Match",
        )
