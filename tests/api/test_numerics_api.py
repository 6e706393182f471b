"""Number formats and quantization over HTTP."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.api.test_models_api import assert_problem


def test_dtypes_match_the_course_and_the_standards(client: TestClient) -> None:
    formats = {item["name"]: item for item in client.get("/v1/dtypes").json()}
    assert list(formats) == ["fp32", "fp16", "bf16", "fp8-e4m3", "fp8-e5m2", "int8", "int4"]
    # Course notes: FP32 1+8+23, FP16 1+5+10, BF16 1+8+7.
    layout = {
        k: (v["sign_bits"], v["exponent_bits"], v["fraction_bits"]) for k, v in formats.items()
    }
    assert layout["fp32"] == (1, 8, 23)
    assert layout["fp16"] == (1, 5, 10)
    assert layout["bf16"] == (1, 8, 7)
    assert formats["fp16"]["max"] == 65504.0
    assert formats["bf16"]["epsilon"] == 2**-7
    assert formats["fp8-e4m3"]["max"] == 448.0  # Micikevicius et al. 2022, Table 1
    assert formats["fp8-e5m2"]["max"] == 57344.0
    assert formats["int4"]["bytes"] == 0.5
    assert (formats["int8"]["int_min"], formats["int8"]["int_max"]) == (-128, 127)


def test_absmax_int8(client: TestClient) -> None:
    body = client.post("/v1/quantize", json={"values": [0.5, -1.27, 1.27], "target": "int8"}).json()
    assert body["scheme"] == "absmax"
    assert body["quantized"] == [50, -127, 127]
    assert body["scale"] == pytest.approx(0.01)
    assert body["max_abs_error"] <= body["scale"] / 2
    assert body["assumptions"]


def test_zero_point_and_float_targets(client: TestClient) -> None:
    zp = client.post(
        "/v1/quantize",
        json={"values": [0.0, 1.0, 2.0, 3.0], "target": "int4", "scheme": "zero-point"},
    ).json()
    assert zp["zero_point"] is not None
    assert all(-8 <= code <= 7 for code in zp["quantized"])
    bf16 = client.post("/v1/quantize", json={"values": [1.0 + 2**-9], "target": "bf16"}).json()
    assert bf16["quantized"] == [1.0]
    fp8 = client.post("/v1/quantize", json={"values": [1000.0], "target": "fp8-e4m3"}).json()
    assert fp8["quantized"] == [448.0]
    assert fp8["saturated"] == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"values": [], "target": "int8"}, "body.values"),
        ({"values": [1.0], "target": "int2"}, "body.target"),
        ({"values": [1.0], "target": "int8", "scheme": "log"}, "body.scheme"),
        ({"values": ["a"], "target": "int8"}, "body.values.0"),
        ({"values": [1e39], "target": "int8"}, "body.values.0"),
    ],
)
def test_bad_quantize_requests(client: TestClient, payload: dict[str, object], field: str) -> None:
    assert_problem(client.post("/v1/quantize", json=payload), 422, field)


def test_nan_and_scheme_on_float_target_are_refused(client: TestClient) -> None:
    nan = client.post(
        "/v1/quantize",
        content=json.dumps({"values": [float("nan")], "target": "int8"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert_problem(nan, 422, "body.values.0")
    scheme = client.post(
        "/v1/quantize", json={"values": [1.0], "target": "fp16", "scheme": "absmax"}
    )
    assert_problem(scheme, 422, "body.scheme")
