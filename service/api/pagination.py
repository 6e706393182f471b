"""RFC 8288 ``Link`` headers for ``limit``/``offset`` pages."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import URL

_PAGING = frozenset({"limit", "offset"})


def link_header(url: URL, *, total: int, limit: int, offset: int) -> str:
    """``first``, ``prev``, ``next`` and ``last`` links that keep every other query parameter.

    Each link is ``url`` with ``limit`` and ``offset`` set last, as Starlette's
    ``URL.include_query_params`` writes it; the other parameters are parsed and encoded once
    for the four links rather than once each.
    """
    kept = urlencode(
        [(k, v) for k, v in parse_qsl(url.query, keep_blank_values=True) if k not in _PAGING]
    )
    head = f"{str(url).partition('?')[0]}?{kept}&" if kept else f"{str(url).partition('?')[0]}?"

    def at(position: int) -> str:
        return f"<{head}limit={limit}&offset={position}>"

    last = max(0, ((total - 1) // limit) * limit) if total else 0
    links = [f'{at(0)}; rel="first"']
    if offset > 0:
        links.append(f'{at(max(0, offset - limit))}; rel="prev"')
    if offset + limit < total:
        links.append(f'{at(offset + limit)}; rel="next"')
    links.append(f'{at(last)}; rel="last"')
    return ", ".join(links)
