"""A corpus of hostile requests, each with the status it must get, on every endpoint family.

Wrong types, missing and extra fields, NaN and infinity (bare tokens and JSON strings), zero
and negative counts, 1e40 and 1e308, integers beyond 64 bits, empty, huge and NUL-bearing
strings, unicode in slugs, deep JSON, a 10 MB body, wrong content types, and SQL-injection and
path-traversal strings in every path and query parameter. Every refusal must be an
``application/problem+json`` document with ``status``, ``title``, ``detail``, ``instance`` and
the request id, naming the offending field where there is one; nothing may crash (5xx) and
nothing stored may change (checked after every case, and on the listings after the corpus).

The corpus runs against the real app on one transaction per backend, rolled back at the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from service.api.deps import get_session
from service.app import create_app
from service.persistence.tables import Base
from tests.conftest import API_KEY, make_settings

PROBLEM = "application/problem+json"
KEY = {"X-API-Key": API_KEY}
ANY_VERSION = {**KEY, "If-Match": "*"}
MiB = 2**20
UNSET: Any = object()

# --- Valid bodies, one per JSON endpoint (checked in test_base_bodies_are_valid) -------------

MODEL = {
    "slug": "hostile-model",
    "name": "Hostile",
    "family": "decoder-only",
    "objective": "causal-lm",
    "parameters": 1_000_000,
}
HARDWARE = {
    "slug": "hostile-gpu",
    "name": "Hostile GPU",
    "vendor": "Acme",
    "memory_bytes": 10**10,
    "peak_tflops": {"bf16": 100.0},
}
RUNS = [
    {"parameters": 1e8, "tokens": 2e9, "loss": 3.52},
    {"parameters": 2e8, "tokens": 4e9, "loss": 3.21},
    {"parameters": 4e8, "tokens": 8e9, "loss": 2.98},
    {"parameters": 1e8, "tokens": 8e9, "loss": 3.31},
    {"parameters": 4e8, "tokens": 2e9, "loss": 3.24},
]
PLAN = {"name": "Hostile plan", "parameters": 10**9, "tokens": 10**10, "gpus": 8, "strategy": "ddp"}


@dataclass(frozen=True)
class Family:
    """A JSON endpoint and the fields its hostile variants aim at."""

    name: str
    method: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    integer: str | None = None  # an integer field (dotted path inside the body)
    number: str | None = None  # a float field
    text: str | None = None  # a free-text field
    slug: str | None = None  # a slug field
    required: str | None = None  # a required field ("" when the model validator names none)
    zero_ok: bool = False  # whether the number field accepts 0
    signed: bool = False  # whether it accepts 0 and negative numbers too
    valid_status: int = 200
    route: str = ""  # the OpenAPI path, when ``path`` names a concrete resource

    @property
    def operation(self) -> str:
        return f"{self.method} {self.route or self.path}"


FAMILIES = [
    Family(
        "models-create", "POST", "/v1/models", MODEL, KEY,
        integer="parameters", number="gpu_hours", text="name", slug="slug",
        required="family", valid_status=201,
    ),
    Family(
        "models-replace", "PUT", "/v1/models/gpt2", {k: v for k, v in MODEL.items() if k != "slug"},
        ANY_VERSION, integer="year", number="gpu_hours", text="name", required="objective",
        route="/v1/models/{slug}",
    ),
    Family(
        "models-patch", "PATCH", "/v1/models/gpt2", {"year": 2020}, ANY_VERSION,
        integer="year", number="gpu_hours", text="organization", route="/v1/models/{slug}",
    ),
    Family(
        "hardware-create", "POST", "/v1/hardware", HARDWARE, KEY,
        integer="memory_bytes", number="power_watts", text="vendor", slug="slug",
        required="peak_tflops", valid_status=201,
    ),
    Family(
        "hardware-replace", "PUT", "/v1/hardware/a100-80gb",
        {k: v for k, v in HARDWARE.items() if k != "slug"}, ANY_VERSION,
        integer="memory_bytes", number="power_watts", text="name", required="vendor",
        route="/v1/hardware/{slug}",
    ),
    Family(
        "hardware-patch", "PATCH", "/v1/hardware/a100-80gb", {"power_watts": 400.0}, ANY_VERSION,
        integer="memory_bytes", number="power_watts", text="form_factor",
        route="/v1/hardware/{slug}",
    ),
    Family(
        "estimates-memory", "POST", "/v1/estimates/memory", {"parameters": 10**9},
        integer="gpus", number="headroom", slug="gpu", required="", zero_ok=True,
    ),
    Family(
        "estimates-compute", "POST", "/v1/estimates/compute",
        {"parameters": 10**9, "tokens": 10**10},
        integer="tokens", number="mfu", slug="model", required="",
    ),
    Family(
        "quantize", "POST", "/v1/quantize", {"values": [0.5, -1.0], "target": "int8"},
        number="values.0", text="target", required="target", signed=True,
    ),
    Family(
        "scaling-compute-optimal", "POST", "/v1/scaling/compute-optimal",
        {"compute_flops": 1e21}, number="compute_flops", slug="law", required="",
    ),
    Family(
        "scaling-loss", "POST", "/v1/scaling/loss", {"parameters": 1e9, "tokens": 2e10},
        number="parameters", slug="law", required="tokens",
    ),
    Family(
        "scaling-optimal-parameters", "POST", "/v1/scaling/optimal-parameters",
        {"tokens": 1e10, "compute_flops": 1e22}, number="compute_flops", slug="law", required="",
    ),
    Family(
        "scaling-domain-plan", "POST", "/v1/scaling/domain-plan",
        {"domain_tokens": 1e10, "general_tokens": 1e10, "compute_flops": 1e21},
        number="domain_tokens", slug="law", required="domain_tokens",
    ),
    Family(
        # Every variant is invalid, so no fit (seconds of CPU) ever runs here.
        "scaling-fit-law", "POST", "/v1/scaling/laws", {"id": "hostile-law", "runs": RUNS}, KEY,
        number="runs.0.loss", text="citation", slug="id", required="runs", valid_status=201,
    ),
    Family(
        "plans-create", "POST", "/v1/plans", PLAN, KEY,
        integer="gpus", number="mfu", text="name", slug="gpu", required="name", valid_status=201,
    ),
    Family(
        "plans-patch", "PATCH", "/v1/plans/{plan}", {"notes": "hostile"}, ANY_VERSION,
        text="name", route="/v1/plans/{plan_id}",
    ),
    Family(
        "planner-search", "POST", "/v1/planner/search",
        {"model": "llama-7b", "tokens": 10**12, "gpu_types": ["a100-80gb"], "max_gpus": 64},
        integer="max_gpus", number="max_days", slug="gpu_types.0", required="tokens",
    ),
]  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One hostile request and the answer it must get."""

    id: str
    method: str
    path: str
    status: int
    names: str | None = None  # an ``errors[].field`` the problem must name
    json: Any = UNSET  # serialised with json.dumps, so NaN and Infinity go out as bare tokens
    content: bytes | None = None
    content_type: str | None = "application/json"
    params: list[tuple[str, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    empty_page: bool = False  # a 200 listing that must match nothing


def _set(body: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with the field at ``dotted`` (``runs.0.loss``) set to ``value``."""
    copy = json.loads(json.dumps(body))
    *parents, last = dotted.split(".")
    target: Any = copy
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return copy


def _without(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != name}


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


TEN_MB = b'{"values": [' + b"1.0," * (10 * MiB // 4) + b'1.0], "target": "int8"}'
DEEP_ARRAYS = _deep(10_000)
DEEP_OBJECTS = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
HUGE_TEXT = "x" * 100_000
NEAR_LIMIT_TEXT = "x" * 900_000  # just under PLANNER_MAX_BODY_BYTES (1 MiB)
BIG_INTEGERS = {"2^63": 2**63, "2^64": 2**64, "2^70": 2**70, "-2^64": -(2**64), "1e30": 10**30}
HUGE_FLOATS = {"1e308": 1e308, "1e40": 1e40}
NON_FINITE_TOKENS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
NON_FINITE_STRINGS = ("NaN", "Infinity", "-Infinity", "inf", "nan")
UNICODE_SLUGS = {
    "umlaut": "llamä-7b",
    "cyrillic-a": "ll\u0430ma-7b",  # a homoglyph of llama-7b
    "fullwidth": "\uff4c\uff4c\uff41\uff4d\uff41-7b",
    "zero-width": "llama\u200b-7b",
    "rtl-override": "llama\u202e-7b",
    "emoji": "llama-🦙",
}
INJECTIONS = {
    "sql-or": "' OR 1=1 --",
    "sql-drop": "; DROP TABLE model;",
    "sql-union": "x' UNION SELECT slug FROM model --",
    "traversal": "../../etc/passwd",
    "traversal-encoded": "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "nul": "gpt2\x00",
}
CONTENT_TYPES = {
    "text-plain": "text/plain",
    "form": "application/x-www-form-urlencoded",
    "multipart": "multipart/form-data; boundary=x",
    "xml": "application/xml",
    "none": None,
}


def _body_cases(family: Family) -> Iterator[Case]:
    """Every hostile body variant that applies to ``family``."""
    name, method, path, body, headers = (
        family.name,
        family.method,
        family.path,
        family.body,
        family.headers,
    )

    def case(tag: str, status: int, where: str | None, **kwargs: Any) -> Case:
        located = None if where is None else f"body.{where}" if where else "body"
        return Case(f"{name}:{tag}", method, path, status, located, headers=headers, **kwargs)

    yield case("top-level-array", 422, "", json=[body])
    yield case("top-level-string", 422, "", json="' OR 1=1 --")
    yield case("extra-field", 422, "injected", json={**body, "injected": 1})
    yield case("empty-body", 422, "", content=b"")
    yield case("malformed-json", 422, None, content=b'{"slug": ')
    yield case("not-utf-8", 400, None, content=b'{"name": "\xff\xfe"}')
    yield case("raw-nul-byte", 422, None, content=b'{"name": "a\x00b"}')
    yield case("deep-arrays", 400, None, content=DEEP_ARRAYS)
    yield case("deep-objects", 400, None, content=DEEP_OBJECTS)
    yield case("5000-digit-integer", 400, None, content=b'{"n": ' + b"9" * 5000 + b"}")
    yield case("10MB", 413, None, content=TEN_MB)
    for tag, content_type in CONTENT_TYPES.items():
        yield Case(
            f"{name}:content-type-{tag}", method, path, 415, "header.Content-Type",
            content=json.dumps(body).encode(), content_type=content_type, headers=headers,
        )  # fmt: skip
    if family.required is not None:
        where = family.required
        yield case("missing-field", 422, where, json=_without(body, where) if where else {})
    if family.integer:
        where = family.integer
        yield case("int-as-string", 422, where, json=_set(body, where, "many"))
        yield case("int-as-object", 422, where, json=_set(body, where, {"$gt": 0}))
        yield case("int-zero", 422, where, json=_set(body, where, 0))
        yield case("int-negative", 422, where, json=_set(body, where, -1))
        yield case("int-fraction", 422, where, json=_set(body, where, 1.5))
        yield case("int-NaN", 422, where, json=_set(body, where, float("nan")))
        yield case("int-NaN-string", 422, where, json=_set(body, where, "NaN"))
        for tag, value in {**BIG_INTEGERS, **HUGE_FLOATS}.items():
            yield case(f"int-{tag}", 422, where, json=_set(body, where, value))
    if family.number:
        where = family.number
        yield case("number-as-string", 422, where, json=_set(body, where, "lots"))
        yield case("number-as-list", 422, where, json=_set(body, where, [1.0]))
        if not (family.zero_ok or family.signed):
            yield case("number-zero", 422, where, json=_set(body, where, 0))
        if not family.signed:
            yield case("number-negative", 422, where, json=_set(body, where, -1.0))
        for tag, value in {**NON_FINITE_TOKENS, **HUGE_FLOATS}.items():
            yield case(f"number-{tag}", 422, where, json=_set(body, where, value))
        for text in NON_FINITE_STRINGS:
            yield case(f"number-{text}-string", 422, where, json=_set(body, where, text))
    if family.text:
        where = family.text
        yield case("text-as-number", 422, where, json=_set(body, where, 12345))
        yield case("text-empty", 422, where, json=_set(body, where, ""))
        yield case("text-huge", 422, where, json=_set(body, where, HUGE_TEXT))
        yield case("text-nul", 422, where, json=_set(body, where, "a\x00b"))
    if family.slug:
        where = family.slug
        yield case("slug-empty", 422, where, json=_set(body, where, ""))
        yield case("slug-near-limit", 422, where, json=_set(body, where, NEAR_LIMIT_TEXT))
        for tag, value in {**UNICODE_SLUGS, **INJECTIONS}.items():
            yield case(f"slug-{tag}", 422, where, json=_set(body, where, value))


#: Routes with a path parameter: a name, the method, the URL with ``{}`` for the parameter, the
#: OpenAPI path, the headers (a key and If-Match ``*``, so only the parameter is wrong; PUT and
#: PATCH go without a body, and the problem names the path parameter among its errors).
PATH_ROUTES = [
    ("models-get", "GET", "/v1/models/{}", "/v1/models/{slug}", {}),
    ("models-put", "PUT", "/v1/models/{}", "/v1/models/{slug}", ANY_VERSION),
    ("models-patch", "PATCH", "/v1/models/{}", "/v1/models/{slug}", ANY_VERSION),
    ("models-delete", "DELETE", "/v1/models/{}", "/v1/models/{slug}", ANY_VERSION),
    ("models-chinchilla", "GET", "/v1/models/{}/chinchilla", "/v1/models/{slug}/chinchilla", {}),
    ("hardware-get", "GET", "/v1/hardware/{}", "/v1/hardware/{slug}", {}),
    ("hardware-put", "PUT", "/v1/hardware/{}", "/v1/hardware/{slug}", ANY_VERSION),
    ("hardware-patch", "PATCH", "/v1/hardware/{}", "/v1/hardware/{slug}", ANY_VERSION),
    ("hardware-delete", "DELETE", "/v1/hardware/{}", "/v1/hardware/{slug}", ANY_VERSION),
    ("plans-get", "GET", "/v1/plans/{}", "/v1/plans/{plan_id}", {}),
    ("plans-patch", "PATCH", "/v1/plans/{}", "/v1/plans/{plan_id}", ANY_VERSION),
    ("plans-delete", "DELETE", "/v1/plans/{}", "/v1/plans/{plan_id}", ANY_VERSION),
    ("plans-recompute", "POST", "/v1/plans/{}/recompute", "/v1/plans/{plan_id}/recompute", KEY),
    ("plans-svg", "GET", "/v1/plans/{}/memory.svg", "/v1/plans/{plan_id}/memory.svg", {}),
    ("laws-get", "GET", "/v1/scaling/laws/{}", "/v1/scaling/laws/{law_id}", {}),
    ("laws-delete", "DELETE", "/v1/scaling/laws/{}", "/v1/scaling/laws/{law_id}", KEY),
]


def _path_cases() -> Iterator[Case]:
    values = {**INJECTIONS, **UNICODE_SLUGS, "blank": " ", "too-long": "a" * 65}
    for name, method, url, route, headers in PATH_ROUTES:
        parameter = route.rsplit("{", 1)[1].split("}")[0]
        for tag, value in values.items():
            # A "/" once decoded moves the request off the route: no such resource, 404. (The
            # test client decodes the path twice, so "%2e%2e%2f" arrives as "../" too; a server
            # decodes once and the pattern refuses it, 422.)
            off_route = "/" in unquote(value)
            status, located = (404, None) if off_route else (422, f"path.{parameter}")
            yield Case(
                f"{name}:{tag}", method, url.replace("{}", quote(value, safe="")), status,
                located, content_type=None, headers=headers,
            )  # fmt: skip


#: Query parameters: route, parameter, and the status an injection string gets there. Free
#: text filters answer 200 with an empty page: the string is data, never SQL.
QUERY_PARAMETERS = [
    ("/v1/models", "family", 422),
    ("/v1/models", "objective", 422),
    ("/v1/models", "domain", 200),
    ("/v1/models", "q", 200),
    ("/v1/models", "min_parameters", 422),
    ("/v1/models", "max_parameters", 422),
    ("/v1/models", "sort", 422),
    ("/v1/models", "verdict", 422),
    ("/v1/models", "law", 422),  # with a verdict to judge by (see QUERY_DEFAULTS)
    ("/v1/models", "limit", 422),
    ("/v1/models", "offset", 422),
    ("/v1/hardware", "vendor", 200),
    ("/v1/hardware", "kind", 422),
    ("/v1/hardware", "min_memory_bytes", 422),
    ("/v1/hardware", "sort", 422),
    ("/v1/hardware", "limit", 422),
    ("/v1/hardware", "offset", 422),
    ("/v1/plans", "model", 422),
    ("/v1/plans", "gpu", 422),
    ("/v1/plans", "fits", 422),
    ("/v1/plans", "created_after", 422),
    ("/v1/plans", "created_before", 422),
    ("/v1/plans", "sort", 422),
    ("/v1/plans", "limit", 422),
    ("/v1/plans", "offset", 422),
    ("/v1/plans/compare", "ids", 422),
    ("/v1/models/llama-7b/chinchilla", "law", 422),
    ("/v1/models/llama-7b/chinchilla", "loss_law", 422),
    ("/v1/scaling/isoflop", "compute_flops", 422),
    ("/v1/scaling/isoflop", "law", 422),
    ("/v1/scaling/isoflop", "points", 422),
    ("/v1/scaling/isoflop", "span", 422),
    ("/v1/scaling/isoflop.svg", "compute_flops", 422),
    ("/v1/scaling/isoflop.svg", "law", 422),
    ("/v1/scaling/isoflop.svg", "points", 422),
]
QUERY_ROUTES = {"/v1/models/llama-7b/chinchilla": "/v1/models/{slug}/chinchilla"}
REPEATABLE = {("/v1/scaling/isoflop.svg", "compute_flops")}
#: The models listing reads ``law`` only to judge a ``verdict``.
PARAMETER_DEFAULTS = {("/v1/models", "law"): [("verdict", "under-trained")]}
#: Required query parameters, filled in with a valid value when another one is attacked.
QUERY_DEFAULTS = {
    "/v1/scaling/isoflop": [("compute_flops", "1e21")],
    "/v1/scaling/isoflop.svg": [("compute_flops", "1e21")],
    "/v1/plans/compare": [],
}


def _located(path: str, name: str) -> str:
    # A repeatable parameter is a list: validation names the item.
    return f"query.{name}.0" if (path, name) in REPEATABLE else f"query.{name}"


def _query_cases() -> Iterator[Case]:
    values = {**INJECTIONS, **UNICODE_SLUGS}
    for path, name, status in QUERY_PARAMETERS:
        base = [(key, value) for key, value in QUERY_DEFAULTS.get(path, []) if key != name]
        base += PARAMETER_DEFAULTS.get((path, name), [])
        for tag, value in values.items():
            # NUL is refused before validation, for the parameter as a whole.
            nul = "\x00" in value
            located = f"query.{name}" if nul else _located(path, name) if status == 422 else None
            yield Case(
                f"query:{path}?{name}:{tag}", "GET", path, 422 if nul else status, located,
                content_type=None, params=[*base, (name, value)], empty_page=status == 200,
            )  # fmt: skip
    numbers = {
        "NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity", "1e308": "1e308",
        "1e40": "1e40", "2^70": str(2**70), "5000-digits": "9" * 5000, "zero": "0",
        "negative": "-1", "empty": "",
    }  # fmt: skip
    numeric = [
        ("/v1/models", "limit"), ("/v1/models", "offset"), ("/v1/models", "min_parameters"),
        ("/v1/hardware", "min_memory_bytes"), ("/v1/plans", "limit"),
        ("/v1/scaling/isoflop", "compute_flops"), ("/v1/scaling/isoflop", "points"),
        ("/v1/scaling/isoflop", "span"), ("/v1/scaling/isoflop.svg", "compute_flops"),
    ]  # fmt: skip
    for path, name in numeric:
        base = [(key, value) for key, value in QUERY_DEFAULTS.get(path, []) if key != name]
        for tag, value in numbers.items():
            if (name, tag) in (("offset", "zero"), ("compute_flops", "2^70")):
                continue  # offset=0 is the first page; 2^70 FLOPs is a valid budget
            yield Case(
                f"query:{path}?{name}:{tag}", "GET", path, 422, _located(path, name),
                content_type=None, params=[*base, (name, value)],
            )  # fmt: skip
    yield Case(
        "query:/v1/plans/compare?ids:injection-pair", "GET", "/v1/plans/compare", 404,
        "query.ids", content_type=None, params=[("ids", "' OR '1'='1,x; DROP TABLE plan; --")],
    )  # fmt: skip
    yield Case(
        "query:/v1/models?q:long", "GET", "/v1/models", 422, "query.q",
        content_type=None, params=[("q", "x" * 10_000)],
    )  # fmt: skip
    yield Case(
        "query:/v1/models?q:like-wildcards", "GET", "/v1/models", 200, None,
        content_type=None, params=[("q", "%_%")], empty_page=True,
    )  # fmt: skip
    yield Case(
        "query:/v1/models?unknown-parameter-ignored", "GET", "/v1/models", 200, None,
        content_type=None, params=[("injected", "' OR 1=1 --")],
    )  # fmt: skip


HF_CONFIG = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "vocab_size": 100,
    "max_position_embeddings": 128,
}


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _regression_cases() -> Iterator[Case]:
    """Inputs that were 5xx before this corpus existed."""
    config = "body.hf_config"
    for tag, (extra, located) in {
        # A parsed but deep document in the free-form config: storing the plan failed with
        # pydantic's "maximum serialization depth" (500).
        "deep-800": ({"junk": _nested(800)}, config),
        "deep-40": ({"junk": _nested(40)}, config),
        # NaN and infinity under keys the mapping ignores were stored (as null), not refused.
        "NaN": ({"junk": float("nan")}, config),
        "Infinity": ({"rope_scaling": {"factor": float("inf")}}, config),
        # NUL in a key: PostgreSQL JSONB cannot store it (500 on PostgreSQL).
        "nul-key": ({"junk\x00": 1}, config),
        # Values the mapping reads are checked by it, and named.
        "NaN-string": ({"hidden_size": "NaN"}, f"{config}.hidden_size"),
        "2^70": ({"hidden_size": 2**70}, f"{config}.hidden_size"),
        "1e308": ({"hidden_size": 1e308}, f"{config}.hidden_size"),
    }.items():
        body = {**HF_CONFIG, **extra}
        yield Case(
            f"plans-create:hf-config-{tag}", "POST", "/v1/plans", 422, located,
            json={"name": "p", "hf_config": body, "tokens": 10**9}, headers=KEY,
        )  # fmt: skip
        yield Case(
            f"estimates-memory:hf-config-{tag}", "POST", "/v1/estimates/memory", 422, located,
            json={"hf_config": body},
        )  # fmt: skip
    # Longer than their VARCHAR columns: a 500 on PostgreSQL (SQLite ignores the length).
    for family, name, length in (
        ("models", "precision", 33),
        ("hardware", "vendor", 65),
        ("hardware", "form_factor", 65),
    ):
        body = MODEL if family == "models" else HARDWARE
        yield Case(
            f"{family}-create:{name}-over-column", "POST", f"/v1/{family}", 422,
            f"body.{name}", json={**body, name: "x" * length}, headers=KEY,
        )  # fmt: skip
    # NUL in a query filter: PostgreSQL refuses it in a LIKE pattern (500 on PostgreSQL).
    for path, name in (("/v1/models", "q"), ("/v1/models", "domain"), ("/v1/hardware", "vendor")):
        yield Case(
            f"query:{path}?{name}:nul-inside", "GET", path, 422, f"query.{name}",
            content_type=None, params=[(name, "a\x00b")],
        )  # fmt: skip


def _header_cases() -> Iterator[Case]:
    for tag, value in INJECTIONS.items():
        if "\x00" in value:
            continue  # HTTP forbids NUL in a header; no client can send it
        yield Case(
            f"header:X-API-Key:{tag}", "POST", "/v1/models", 401, "header.X-API-Key",
            json=MODEL, headers={"X-API-Key": value},
        )  # fmt: skip
        yield Case(
            f"header:If-Match:{tag}", "PATCH", "/v1/models/gpt2", 412, "header.If-Match",
            json={"year": 2020}, headers={**KEY, "If-Match": value},
        )  # fmt: skip


CASES = [
    *(case for family in FAMILIES for case in _body_cases(family)),
    *_path_cases(),
    *_query_cases(),
    *_header_cases(),
    *_regression_cases(),
]


@dataclass
class Corpus:
    client: TestClient
    session: Session
    plan_id: str
    listings: dict[str, Any]
    fingerprint: dict[str, tuple[int, int]]
    paths: set[str]
    sent: int = 0


def _fingerprint(session: Session) -> dict[str, tuple[int, int]]:
    """Rows and the sum of versions in every table: an insert, delete or update changes it."""
    result = {}
    for table in Base.metadata.sorted_tables:
        rows = session.execute(select(func.count()).select_from(table)).scalar_one()
        versions = 0
        if "version" in table.c:
            versions = session.execute(select(func.coalesce(func.sum(table.c.version), 0)))
            versions = versions.scalar_one()
        result[table.name] = (int(rows), int(versions))
    return result


def _listings(client: TestClient) -> dict[str, Any]:
    return {
        path: client.get(path).json()
        for path in (
            "/v1/models?limit=100&sort=slug",
            "/v1/hardware?limit=100&sort=slug",
            "/v1/plans?limit=100",
            "/v1/scaling/laws",
        )
    }


@pytest.fixture(scope="module")
def corpus(database_url: str, engine: Engine) -> Iterator[Corpus]:
    """The real app on one transaction for the whole corpus (per backend), rolled back after."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )
    app = create_app(make_settings(database_url))

    def session_override() -> Iterator[Session]:
        yield session

    app.dependency_overrides[get_session] = session_override
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            created = client.post("/v1/plans", json=PLAN, headers=KEY)
            assert created.status_code == 201, created.text
            yield Corpus(
                client=client,
                session=session,
                plan_id=created.json()["id"],
                listings=_listings(client),
                fingerprint=_fingerprint(session),
                paths=set(client.get("/openapi.json").json()["paths"]),
            )
    finally:
        session.close()
        transaction.rollback()
        connection.close()


def _send(corpus: Corpus, case: Case) -> Any:
    headers = dict(case.headers)
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    content = case.content
    if case.json is not UNSET:
        content = json.dumps(case.json).encode()
    return corpus.client.request(
        case.method,
        case.path.replace("{plan}", corpus.plan_id),
        content=content,
        params=case.params,
        headers=headers,
    )


def assert_problem(response: Any, status: int, field: str | None) -> None:
    """The answer is a problem document for ``status``, naming ``field`` when given."""
    assert response.status_code == status, response.text[:2000]
    assert response.headers["content-type"] == PROBLEM, response.headers
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    # The test client decodes paths twice (a server, once): "%2e%2e%2f" may arrive as "../".
    assert body["instance"] in (response.request.url.path, unquote(response.request.url.path))
    assert body["request_id"] == response.headers["x-request-id"]
    if field is not None:
        assert field in [error["field"] for error in body.get("errors", [])], body


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_request_is_refused_and_changes_nothing(corpus: Corpus, case: Case) -> None:
    corpus.sent += 1
    if case.path.startswith("/v1/planner") and "/v1/planner/search" not in corpus.paths:
        pytest.skip("no planner endpoint in this build")
    response = _send(corpus, case)
    if case.status < 400:
        assert response.status_code == case.status, response.text[:2000]
        if case.empty_page:
            assert response.json()["total"] == 0, response.json()
    else:
        assert_problem(response, case.status, case.names)
    assert _fingerprint(corpus.session) == corpus.fingerprint, case.id


def test_corpus_left_every_listing_intact(corpus: Corpus) -> None:
    """Runs after the corpus (pytest keeps file order within a backend): nothing changed."""
    assert corpus.sent == len(CASES), "the corpus did not run before this check"
    assert _listings(corpus.client) == corpus.listings
    assert _fingerprint(corpus.session) == corpus.fingerprint


def test_base_bodies_are_valid(corpus: Corpus) -> None:
    """Each family's unmodified body succeeds, so each variant fails for its mutation alone.

    On the corpus's transaction (SQLite has one writer), inside a savepoint rolled back after.
    """
    connection = corpus.session.connection()
    corpus.session.rollback()  # the session's own savepoints now nest inside this one
    savepoint = connection.begin_nested()
    try:
        for family in FAMILIES:
            if family.path.startswith("/v1/planner") and "/v1/planner/search" not in corpus.paths:
                continue
            if family.name == "scaling-fit-law":
                continue  # valid, but a fit costs seconds; tests/api/test_scaling_api.py fits
            response = corpus.client.request(
                family.method,
                family.path.replace("{plan}", corpus.plan_id),
                json=family.body,
                headers=family.headers,
            )
            assert response.status_code == family.valid_status, (family.name, response.text)
    finally:
        corpus.session.rollback()
        savepoint.rollback()
        corpus.session.expunge_all()
    assert _fingerprint(corpus.session) == corpus.fingerprint


def test_corpus_covers_every_operation_with_inputs(corpus: Corpus) -> None:
    """Every operation taking a body, a path or a query parameter is attacked by the corpus."""
    document = corpus.client.get("/openapi.json").json()
    expected = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
        or any(p["in"] in ("path", "query") for p in operation.get("parameters", []))
    }
    attacked = (
        {family.operation for family in FAMILIES}
        | {f"{method} {route}" for _, method, _, route, _ in PATH_ROUTES}
        | {f"GET {QUERY_ROUTES.get(path, path)}" for path, _, _ in QUERY_PARAMETERS}
    )
    assert expected <= attacked, sorted(expected - attacked)


def test_request_id_header_cannot_inject(corpus: Corpus) -> None:
    """A request id that is not a plain token is replaced, never echoed into headers or logs."""
    for value in ("../../etc/passwd", "' OR 1=1 --", "a" * 200, "<script>"):
        response = corpus.client.get("/v1/models/no-such-model", headers={"X-Request-ID": value})
        echoed = response.headers["x-request-id"]
        assert echoed != value
        assert response.json()["request_id"] == echoed
