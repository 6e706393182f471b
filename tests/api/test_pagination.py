"""``Link`` headers: the same links Starlette's ``URL.include_query_params`` makes, once each."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import URL

from service.api.pagination import link_header

names = st.sampled_from(["q", "family", "sort", "limit", "offset", "a b", "ü", "x&y", "k=v"])
values = st.text(min_size=0, max_size=8)


def parse(header: str) -> dict[str, str]:
    """``{rel: url}`` of a ``Link`` header."""
    links = {}
    for part in header.split(", "):
        target, rel = part.split("; ")
        links[rel.removeprefix('rel="').removesuffix('"')] = target.strip("<>")
    return links


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
    links = parse(link_header(url, total=total, limit=limit, offset=offset))
    last = ((total - 1) // limit) * limit if total else 0
    expected = {"first": 0, "last": last}
    if offset > 0:
        expected["prev"] = max(0, offset - limit)
    if offset + limit < total:
        expected["next"] = offset + limit
    assert links.keys() == expected.keys()
    for rel, position in expected.items():
        # Each link is the request's URL with limit and offset set, as Starlette writes it.
        assert links[rel] == str(url.include_query_params(limit=limit, offset=position)), rel


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
