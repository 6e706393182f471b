"""RFC 8288 ``Link`` headers for ``limit``/``offset`` pages."""

from __future__ import annotations

from starlette.datastructures import URL


def link_header(url: URL, *, total: int, limit: int, offset: int) -> str:
    """``first``, ``prev``, ``next`` and ``last`` links that keep every other query parameter."""

    def at(position: int) -> str:
        return f"<{url.include_query_params(limit=limit, offset=position)}>"

    last = max(0, ((total - 1) // limit) * limit) if total else 0
    links = [f'{at(0)}; rel="first"']
    if offset > 0:
        links.append(f'{at(max(0, offset - limit))}; rel="prev"')
    if offset + limit < total:
        links.append(f'{at(offset + limit)}; rel="next"')
    links.append(f'{at(last)}; rel="last"')
    return ", ".join(links)
