"""The catalogue over HTTP: listing, filters, pagination, ETags, writes and their refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.persistence.repositories import ModelRepository
from service.schemas.common import Page
from service.schemas.models import ModelRead
from tests.conftest import make_settings

PROBLEM = "application/problem+json"


def new_model(slug: str = "pythia-1b", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "slug": slug,
        "name": "Pythia-1B",
        "family": "decoder-only",
        "objective": "causal-lm",
        "parameters": 1_011_781_632,
    }
    body.update(overrides)
    return body


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    if field is not None:
        assert field in [error["field"] for error in body["errors"]], body
    return body


class TestList:
    def test_default_page_is_sorted_by_parameters(self, client: TestClient) -> None:
        response = client.get("/v1/models")
        assert response.status_code == 200
        page = response.json()
        assert page["limit"] == 20
        assert page["offset"] == 0
        assert page["total"] >= 30
        sizes = [item["parameters"] for item in page["items"]]
        assert sizes == sorted(sizes)
        assert len(page["items"]) == 20

    def test_family_filter_and_course_words(self, client: TestClient) -> None:
        page = client.get("/v1/models", params={"family": "encoder-only", "limit": 100}).json()
        slugs = {item["slug"] for item in page["items"]}
        assert {"bert-base", "bert-large", "roberta-base", "roberta-large"} <= slugs
        assert all(item["family_alias"] == "autoencoding" for item in page["items"])
        assert all(item["objective"] == "masked-lm" for item in page["items"])
        assert page["total"] == len(page["items"])

    def test_objective_domain_and_text_filters(self, client: TestClient) -> None:
        spans = client.get("/v1/models", params={"objective": "span-corruption", "limit": 100})
        assert {i["slug"] for i in spans.json()["items"]} >= {"t5-small", "t5-11b", "flan-t5-xxl"}
        finance = client.get("/v1/models", params={"domain": "finance"}).json()
        assert [item["slug"] for item in finance["items"]] == ["bloomberggpt-50b"]
        llamas = client.get("/v1/models", params={"q": "LLaMA", "limit": 100}).json()
        assert {i["slug"] for i in llamas["items"]} >= {"llama-7b", "llama-65b", "llama2-70b"}
        # LIKE wildcards in q are matched literally.
        assert client.get("/v1/models", params={"q": "%"}).json()["total"] == 0

    def test_parameter_range_and_descending_sort(self, client: TestClient) -> None:
        params = {"min_parameters": 100_000_000_000, "sort": "-parameters", "limit": 100}
        page = client.get("/v1/models", params=params).json()
        sizes = [item["parameters"] for item in page["items"]]
        assert sizes == sorted(sizes, reverse=True)
        assert min(sizes) >= 100_000_000_000
        assert page["items"][0]["slug"] == "palm-540b"
        small = client.get("/v1/models", params={"max_parameters": 100_000_000}).json()
        assert {item["slug"] for item in small["items"]} == {"t5-small"}

    def test_pagination_links_walk_the_whole_catalogue(self, client: TestClient) -> None:
        seen: list[str] = []
        url: str | None = "/v1/models?limit=7&sort=slug&family=decoder-only"
        total = None
        while url:
            response = client.get(url)
            page = response.json()
            total = page["total"]
            seen.extend(item["slug"] for item in page["items"])
            links = {
                part.split(";")[1].strip()[5:-1]: part.split(";")[0].strip()[1:-1]
                for part in response.headers["link"].split(",")
            }
            assert "family=decoder-only" in links["first"]
            url = links.get("next")
        assert len(seen) == total == len(set(seen))
        assert seen == sorted(seen)

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"limit": 0}, "query.limit"),
            ({"limit": 101}, "query.limit"),
            ({"offset": -1}, "query.offset"),
            ({"sort": "password"}, "query.sort"),
            ({"family": "decoder"}, "query.family"),
            ({"min_parameters": "many"}, "query.min_parameters"),
            ({"min_parameters": 10, "max_parameters": 5}, "query.min_parameters"),
        ],
    )
    def test_bad_query_is_a_problem_naming_the_field(
        self, client: TestClient, params: dict[str, Any], field: str
    ) -> None:
        assert_problem(client.get("/v1/models", params=params), 422, field)


class TestRead:
    def test_get_has_strong_etag_and_sources(self, client: TestClient) -> None:
        response = client.get("/v1/models/llama-65b")
        assert response.status_code == 200
        assert response.headers["etag"] == f'"v{response.json()["version"]}"'
        model = response.json()
        assert model["family"] == "decoder-only"
        assert model["family_alias"] == "autoregressive"
        assert model["origin"] == "seed"
        assert model["sources"]

    def test_unknown_slug_is_404(self, client: TestClient) -> None:
        body = assert_problem(client.get("/v1/models/no-such-model"), 404, "path.slug")
        assert "no-such-model" in body["detail"]

    @pytest.mark.parametrize("slug", ["UPPER", "a%20b", "x" * 65, "-lead", "ünï"])
    def test_malformed_slug_is_422(self, client: TestClient, slug: str) -> None:
        assert_problem(client.get(f"/v1/models/{slug}"), 422, "path.slug")

    def test_unknown_route_is_a_problem(self, client: TestClient) -> None:
        assert_problem(client.get("/v1/nothing-here"), 404)


class TestWritesNeedAKey:
    def test_create_without_key_is_401_and_stores_nothing(self, client: TestClient) -> None:
        response = client.post("/v1/models", json=new_model())
        assert_problem(response, 401, "header.X-API-Key")
        assert response.headers["www-authenticate"] == "ApiKey"
        assert client.get("/v1/models/pythia-1b").status_code == 404

    def test_wrong_key_is_401(self, client: TestClient) -> None:
        response = client.post("/v1/models", json=new_model(), headers={"X-API-Key": "nope"})
        assert_problem(response, 401, "header.X-API-Key")

    def test_key_is_checked_before_the_body(self, client: TestClient) -> None:
        assert_problem(client.post("/v1/models", json={"slug": 3}), 401)

    def test_no_configured_keys_refuses_every_write(self, database_url: str) -> None:
        from service.app import create_app

        app = create_app(make_settings(database_url, api_keys=()))
        with TestClient(app) as bare:
            for key in ("", "test-key-0123456789"):
                response = bare.delete(
                    "/v1/models/gpt2", headers={"X-API-Key": key, "If-Match": "*"}
                )
                body = assert_problem(response, 401)
                assert "no API keys" in body["detail"]
            assert bare.get("/v1/models/gpt2").status_code == 200


class TestCreate:
    def test_create_minimal_model(self, client: TestClient, auth: dict[str, str]) -> None:
        response = client.post("/v1/models", json=new_model(), headers=auth)
        assert response.status_code == 201, response.text
        assert response.headers["location"] == "/v1/models/pythia-1b"
        created = response.json()
        assert created["version"] == 1
        assert created["origin"] == "api"
        assert created["training_tokens"] is None
        assert response.headers["etag"] == '"v1"'
        fetched = client.get("/v1/models/pythia-1b").json()
        assert fetched == created

    def test_full_model_round_trips(self, client: TestClient, auth: dict[str, str]) -> None:
        body = new_model(
            training_tokens=300_000_000_000,
            training_tokens_note="143,000 steps x 1024 x 2048 tokens",
            architecture={
                "n_layers": 16,
                "d_model": 2048,
                "n_heads": 8,
                "d_ff": 8192,
                "vocab_size": 50304,
                "context_length": 2048,
                "tied_embeddings": False,
                "position_embedding": "rotary",
            },
            precision="fp16",
            hardware="64 A100-40GB",
            gpu_hours=4830.0,
            organization="EleutherAI",
            year=2023,
            use_cases=["text generation"],
            sources=["Biderman et al. 2023, arXiv:2304.01373, Table 1"],
        )
        created = client.post("/v1/models", json=body, headers=auth).json()
        for key, value in body.items():
            if key != "architecture":
                assert created[key] == value
        assert created["architecture"]["n_kv_heads"] is None
        assert created["architecture"]["position_embedding"] == "rotary"

    def test_duplicate_slug_is_409(self, client: TestClient, auth: dict[str, str]) -> None:
        response = client.post("/v1/models", json=new_model("gpt2"), headers=auth)
        assert_problem(response, 409, "body.slug")
        assert client.get("/v1/models/gpt2").json()["name"] != "Pythia-1B"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            (new_model(parameters=0), "body.parameters"),
            (new_model(parameters=-5), "body.parameters"),
            (new_model(parameters=10**40), "body.parameters"),
            (new_model(parameters=1e40), "body.parameters"),
            (new_model(parameters="NaN"), "body.parameters"),
            (new_model(parameters=float("nan")), "body.parameters"),
            (new_model(gpu_hours=float("nan")), "body.gpu_hours"),
            (new_model(family="autoencoder"), "body.family"),
            (new_model(slug="Has Spaces"), "body.slug"),
            (new_model(slug=""), "body.slug"),
            (new_model(name=""), "body.name"),
            (new_model(unknown_field=1), "body.unknown_field"),
            (new_model(gpu_hours=float("inf")), "body.gpu_hours"),
            (new_model(training_tokens=0), "body.training_tokens"),
            (new_model(architecture={"n_layers": 2}), "body.architecture.d_model"),
            ({"name": "x"}, "body.slug"),
        ],
    )
    def test_invalid_body_is_422_naming_the_field(
        self, client: TestClient, auth: dict[str, str], body: dict[str, Any], field: str
    ) -> None:
        # json.dumps writes inf/NaN as the non-standard Infinity/NaN tokens, as careless clients do.
        content = json.dumps(body).encode()
        headers = {**auth, "Content-Type": "application/json"}
        assert_problem(client.post("/v1/models", content=content, headers=headers), 422, field)

    def test_inconsistent_architecture_is_422(
        self, client: TestClient, auth: dict[str, str]
    ) -> None:
        arch = {
            "n_layers": 2,
            "d_model": 64,
            "n_heads": 8,
            "n_kv_heads": 3,
            "d_ff": 256,
            "vocab_size": 100,
            "context_length": 128,
        }
        body = assert_problem(
            client.post("/v1/models", json=new_model(architecture=arch), headers=auth), 422
        )
        assert "n_kv_heads must divide n_heads" in body["errors"][0]["message"]

    def test_malformed_json_is_422(self, client: TestClient, auth: dict[str, str]) -> None:
        response = client.post(
            "/v1/models",
            content=b'{"slug": ',
            headers={**auth, "Content-Type": "application/json"},
        )
        assert_problem(response, 422)


class TestUpdateAndDelete:
    def test_patch_needs_if_match(self, client: TestClient, auth: dict[str, str]) -> None:
        response = client.patch("/v1/models/gpt2", json={"year": 2020}, headers=auth)
        assert_problem(response, 428, "header.If-Match")

    def test_patch_with_stale_etag_is_412_and_changes_nothing(
        self, client: TestClient, auth: dict[str, str]
    ) -> None:
        before = client.get("/v1/models/gpt2").json()
        response = client.patch(
            "/v1/models/gpt2", json={"year": 2020}, headers={**auth, "If-Match": '"v999"'}
        )
        assert_problem(response, 412, "header.If-Match")
        assert client.get("/v1/models/gpt2").json() == before

    def test_weak_etag_never_matches(self, client: TestClient, auth: dict[str, str]) -> None:
        tag = client.get("/v1/models/gpt2").headers["etag"]
        response = client.patch(
            "/v1/models/gpt2", json={"year": 2020}, headers={**auth, "If-Match": f"W/{tag}"}
        )
        assert_problem(response, 412)

    def test_patch_then_stale_retry(self, client: TestClient, auth: dict[str, str]) -> None:
        tag = client.get("/v1/models/gpt2").headers["etag"]
        first = client.patch(
            "/v1/models/gpt2",
            json={"training_tokens": 10_000_000_000},
            headers={**auth, "If-Match": tag},
        )
        assert first.status_code == 200, first.text
        assert first.json()["training_tokens"] == 10_000_000_000
        assert first.json()["origin"] == "api"
        assert first.headers["etag"] != tag
        second = client.patch(
            "/v1/models/gpt2", json={"year": 1999}, headers={**auth, "If-Match": tag}
        )
        assert_problem(second, 412)

    def test_patch_cannot_null_a_required_field(
        self, client: TestClient, auth: dict[str, str]
    ) -> None:
        tag = client.get("/v1/models/gpt2").headers["etag"]
        response = client.patch(
            "/v1/models/gpt2", json={"parameters": None}, headers={**auth, "If-Match": tag}
        )
        assert_problem(response, 422)

    def test_patch_cannot_break_family_consistency(
        self, client: TestClient, auth: dict[str, str]
    ) -> None:
        tag = client.get("/v1/models/t5-small").headers["etag"]
        response = client.patch(
            "/v1/models/t5-small",
            json={"family": "decoder-only"},
            headers={**auth, "If-Match": tag},
        )
        assert_problem(response, 422)

    def test_put_replaces_every_field(self, client: TestClient, auth: dict[str, str]) -> None:
        tag = client.get("/v1/models/gpt2").headers["etag"]
        body = new_model()
        del body["slug"]
        response = client.put("/v1/models/gpt2", json=body, headers={**auth, "If-Match": tag})
        assert response.status_code == 200, response.text
        replaced = response.json()
        assert replaced["slug"] == "gpt2"
        assert replaced["name"] == "Pythia-1B"
        assert replaced["architecture"] is None
        assert replaced["sources"] == []

    def test_put_on_missing_model_is_404(self, client: TestClient, auth: dict[str, str]) -> None:
        body = new_model()
        del body["slug"]
        response = client.put("/v1/models/missing", json=body, headers={**auth, "If-Match": "*"})
        assert_problem(response, 404)

    def test_delete_flow(self, client: TestClient, auth: dict[str, str]) -> None:
        assert_problem(client.delete("/v1/models/gpt2", headers=auth), 428)
        assert_problem(client.delete("/v1/models/gpt2", headers={**auth, "If-Match": '"v0"'}), 412)
        tag = client.get("/v1/models/gpt2").headers["etag"]
        response = client.delete("/v1/models/gpt2", headers={**auth, "If-Match": tag})
        assert response.status_code == 204
        assert response.content == b""
        assert_problem(client.get("/v1/models/gpt2"), 404)
        assert_problem(client.delete("/v1/models/gpt2", headers={**auth, "If-Match": "*"}), 404)


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert made.headers["x-request-id"] != "bad id\twith spaces"
    assert len(made.headers["x-request-id"]) == 32


def test_conditional_get_answers_304(client: TestClient) -> None:
    first = client.get("/v1/models/gpt2")
    tag = first.headers["etag"]
    again = client.get("/v1/models/gpt2", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    assert client.get("/v1/models/gpt2", headers={"If-None-Match": f"W/{tag}"}).status_code == 304
    stale = client.get("/v1/models/gpt2", headers={"If-None-Match": '"v0", "v999"'})
    assert stale.status_code == 200
    hardware = client.get("/v1/hardware/a100-80gb")
    cached = client.get(
        "/v1/hardware/a100-80gb", headers={"If-None-Match": hardware.headers["etag"]}
    )
    assert cached.status_code == 304


class TestSnapshotReads:
    """Catalogue reads come from the process's snapshot; a revalidating request sees the
    database. The test's transaction stands in for another replica's write: it changes the
    rows behind the app's back, as a write through another process would."""

    @pytest.mark.parametrize(
        "headers",
        [
            {"Cache-Control": "no-cache"},
            {"Cache-Control": "max-age=0"},
            {"Cache-Control": "private, No-Cache"},
            {"Pragma": "no-cache"},
        ],
    )
    def test_another_replicas_write_shows_once_revalidated(
        self, client: TestClient, db_session: Session, headers: dict[str, str]
    ) -> None:
        before = client.get("/v1/models/llama-7b")
        row = ModelRepository(db_session).get("llama-7b")
        assert row is not None
        row.year = 1999
        db_session.flush()  # the version moves: the fingerprint with it

        stale = client.get("/v1/models/llama-7b")
        assert stale.json()["year"] == before.json()["year"] == 2023
        assert stale.headers["etag"] == before.headers["etag"]
        assert client.get("/v1/models", params={"q": "llama-7b"}).json()["items"][0]["year"] == 2023

        fresh = client.get("/v1/models/llama-7b", headers=headers)
        assert fresh.json()["year"] == 1999
        assert fresh.headers["etag"] == f'"v{row.version}"' != before.headers["etag"]
        # Revalidated for everyone in this process.
        assert client.get("/v1/models", params={"q": "llama-7b"}).json()["items"][0]["year"] == 1999

    def test_other_cache_directives_do_not_revalidate(
        self, client: TestClient, db_session: Session
    ) -> None:
        row = ModelRepository(db_session).get("gpt2")
        assert row is not None
        row.year = 1999
        db_session.flush()
        for value in ("max-age=60", "no-store-ish", "private"):
            response = client.get("/v1/models/gpt2", headers={"Cache-Control": value})
            assert response.json()["year"] == 2019, value

    def test_missing_values_sort_last_both_ways_then_by_slug(
        self, client: TestClient, auth: Any
    ) -> None:
        for slug in ("zz-undated", "aa-undated"):  # no year, no token count
            assert client.post("/v1/models", json=new_model(slug), headers=auth).status_code == 201
        for sort in ("training_tokens", "-training_tokens", "year", "-year"):
            items = client.get("/v1/models", params={"sort": sort, "limit": 100}).json()["items"]
            key = sort.lstrip("-")
            present = [item for item in items if item[key] is not None]
            missing = [item for item in items if item[key] is None]
            assert missing, f"the catalogue has entries without {key}"
            assert items == present + missing, sort
            descending = sort.startswith("-")
            expected = sorted(present, key=lambda item: item["slug"])
            expected.sort(key=lambda item: item[key], reverse=descending)
            assert present == expected, sort
            assert missing == sorted(missing, key=lambda item: item["slug"]), sort

    def test_text_search_folds_case_beyond_ascii(self, client: TestClient, auth: Any) -> None:
        body = new_model("uebermodell", name="Übermodell-ß")
        assert client.post("/v1/models", json=body, headers=auth).status_code == 201
        for q in ("übermodell", "ÜBERMODELL", "ss", "-SS"):
            slugs = [
                item["slug"] for item in client.get("/v1/models", params={"q": q}).json()["items"]
            ]
            assert "uebermodell" in slugs, q

    def test_a_page_is_the_documented_schema(self, client: TestClient) -> None:
        response = client.get("/v1/models", params={"limit": 7, "offset": 3, "sort": "-name"})
        assert response.headers["content-type"] == "application/json"
        page = Page[ModelRead].model_validate_json(response.content)
        assert json.loads(page.model_dump_json()) == response.json()
        assert (page.limit, page.offset, len(page.items)) == (7, 3, 7)
