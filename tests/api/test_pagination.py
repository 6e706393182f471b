"""``Link`` headers: the same links Starlette's ``URL.include_query_params`` makes, once each."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import URL

from service.api.pagination import link_header

names = st.sampled_from(["q", "family", "sort", "limit", "offset", "a b", "ü", "x&y", "k=v"])
values = st.text(min_size=0, max_size=8)


def expected(url: URL, *, total: int, limit: int, offset: int) -> str:
    """The links as Starlette's URL API writes them, one parse and encode per link."""

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


@given(
    params=st.lists(st.tuples(names, values), max_size=6),
    total=st.integers(0, 500),
    limit=st.integers(1, 100),
    offset=st.integers(0, 600),
)
def test_same_links_as_starlette(
    params: list[tuple[str, str]], total: int, limit: int, offset: int
) -> None:
    url = URL(f"http://testserver/v1/models?{urlencode(params)}" if params else "http://t/v1")
    got = link_header(url, total=total, limit=limit, offset=offset)
    assert got == expected(url, total=total, limit=limit, offset=offset)


def test_links_of_a_middle_page() -> None:
    url = URL("http://h/v1/models?family=decoder-only&limit=10&offset=20&q=llama")
    assert link_header(url, total=45, limit=10, offset=20) == ", ".join(
        [
            '<http://h/v1/models?family=decoder-only&q=llama&limit=10&offset=0>; rel="first"',
            '<http://h/v1/models?family=decoder-only&q=llama&limit=10&offset=10>; rel="prev"',
            '<http://h/v1/models?family=decoder-only&q=llama&limit=10&offset=30>; rel="next"',
            '<http://h/v1/models?family=decoder-only&q=llama&limit=10&offset=40>; rel="last"',
        ]
    )
