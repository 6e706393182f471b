"""The ``estimate`` and ``client`` commands of ``python -m service``.

``estimate memory|compute`` answers from the local core, with no server and no database: model
and GPU slugs are resolved from the catalogue seed files shipped in the package, through the
same mapping code the API uses (:class:`service.usecases.estimates.Catalogues`). ``client``
asks a running service, through :class:`service.client.PlannerClient`.

Every field of the request schema is a flag (``gpus`` -> ``--gpus``, ``micro_batch_size`` ->
``--micro-batch-size``), with enum choices, ``--flag/--no-flag`` for booleans, and a JSON text or
``@file.json`` for ``--architecture`` and ``--hf-config``. Answers print as a table, or with
``--json`` as exactly the API's response body. Invalid input prints a problem (the API's 422)
and exits with status 2; any other failure exits with status 1.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import math
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self, TextIO, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined

from service.domain.types import Family, Objective
from service.schemas.estimates import ComputeRequest, ComputeResponse, MemoryRequest, MemoryResponse
from service.schemas.fields import SLUG_PATTERN
from service.schemas.models import ModelRead, ModelSort

if TYPE_CHECKING:
    from service.client import PlannerClient, PlannerError
    from service.usecases.estimates import Catalogues

#: Where a field's flags go in the parsed namespace; only the flags given are set.
_BODY = "body."
_GB = 10**9
_GIB = 2**30


# --- progress ------------------------------------------------------------------------------


class Progress:
    """A one-line progress bar on stderr, drawn only once the work has lasted ``delay`` seconds
    and only on a terminal (or when ``enabled=True``); erased when the work ends.

    ``with Progress("searching", total=n) as bar: ... bar.advance()``; without ``total`` it
    shows a moving block, the count done and the time.
    """

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        delay: float = 1.0,
        interval: float = 0.1,
        width: int = 24,
    ) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.delay = delay
        self.interval = interval
        self.width = width
        self.done = 0
        self.drawn = False
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._length = 0

    def __enter__(self) -> Self:
        self._started = time.monotonic()
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.drawn:
            with self._lock:
                self.stream.write("\r" + " " * self._length + "\r")
                self.stream.flush()

    def advance(self, steps: int = 1) -> None:
        """Count ``steps`` more units of work done."""
        with self._lock:
            self.done += steps

    def render(self) -> str:
        """The bar as it stands."""
        elapsed = time.monotonic() - self._started
        if self.total:
            filled = min(self.width, self.width * self.done // self.total)
            bar = "#" * filled + "." * (self.width - filled)
            count = f"{self.done}/{self.total}"
        else:
            position = int(elapsed / self.interval) % (self.width - 3)
            bar = " " * position + "===" + " " * (self.width - 3 - position)
            count = f"{self.done} done" if self.done else ""
        return f"{self.label} [{bar}] {count} {elapsed:.1f}s".replace("  ", " ")

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        while True:
            with self._lock:
                line = self.render()
                self.stream.write("\r" + line.ljust(self._length))
                self.stream.flush()
                self._length = max(self._length, len(line))
                self.drawn = True
            if self._stop.wait(self.interval):
                return


# --- flags from a request schema -----------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Reports unknown flags itself, naming the command and the closest flags it knows."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            known = [option for action in self._actions for option in action.option_strings]
            hints = {
                match
                for extra in extras
                for match in difflib.get_close_matches(extra.split("=")[0], known, n=1)
            }
            hint = f" (did you mean {', '.join(sorted(hints))}?)" if hints else ""
            self.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return parsed, extras


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _base_type(annotation: Any) -> Any:
    """The type under ``Optional`` and ``Annotated``."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _base_type(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        options = [option for option in get_args(annotation) if option is not type(None)]
        return _base_type(options[0]) if len(options) == 1 else annotation
    return annotation


def _is_slug(annotation: Any, metadata: Iterable[Any]) -> bool:
    """Whether a field is constrained to the slug pattern (anywhere under Optional/Annotated)."""
    if any(getattr(item, "pattern", None) == SLUG_PATTERN for item in metadata):
        return True
    return any(
        _is_slug(arg, get_args(arg)[1:] if get_origin(arg) is Annotated else ())
        for arg in get_args(annotation)
    )


def _json_value(text: str) -> Any:
    """A JSON document given inline or as ``@path``."""
    try:
        source = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
        return json.loads(source)
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot read {text[1:]}: {error.strerror}") from error
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from error


def _integer(text: str) -> int | str:
    """An integer, also written ``7e9`` or ``1_000``; anything else is left to pydantic."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if math.isfinite(number) and number.is_integer() else text


def add_request_flags(parser: argparse.ArgumentParser, schema: type[BaseModel]) -> None:
    """One ``--flag`` per field of ``schema``; only the flags given reach the request."""
    group = parser.add_argument_group(f"{schema.__name__} fields (as in the API)")
    for name, info in schema.model_fields.items():
        kind = _base_type(info.annotation)
        default = info.get_default(call_default_factory=True)
        shown = default.value if isinstance(default, Enum) else default
        help_text = (info.description or "").replace("%", "%%")
        if default is not None and default is not PydanticUndefined:
            help_text = f"{help_text} (default: {shown})".strip()
        options: dict[str, Any] = {"dest": _BODY + name, "default": argparse.SUPPRESS}
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif isinstance(kind, type) and issubclass(kind, Enum):
            options["choices"] = [member.value for member in kind]
            options["metavar"] = "{" + ",".join(member.value for member in kind) + "}"
        elif kind is int:
            options["type"] = _integer
            options["metavar"] = "N"
        elif kind is float:
            options["metavar"] = "X"
        elif kind is str:
            options["metavar"] = "SLUG" if _is_slug(info.annotation, info.metadata) else "TEXT"
        else:  # nested objects and dicts
            options["type"] = _json_value
            options["metavar"] = "JSON|@FILE"
        group.add_argument(_flag(name), help=help_text or None, **options)


def request_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The request fields the command line gave."""
    return {k.removeprefix(_BODY): v for k, v in vars(args).items() if k.startswith(_BODY)}


# --- problems ------------------------------------------------------------------------------


class CommandError(Exception):
    """A command failed with a problem document; exit status 2 for invalid input, else 1."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or problem.get("title"))
        self.problem = problem

    @property
    def exit_status(self) -> int:
        return 2 if self.problem.get("status") == 422 else 1


def validation_problem(error: ValidationError) -> CommandError:
    """The API's 422 problem for a request the schema refused."""
    from service.api.problems import PROBLEM_TYPE_BASE

    errors = [
        {
            "field": ".".join(["body", *(str(part) for part in item["loc"])]),
            "message": item["msg"],
            "type": item["type"],
        }
        for item in error.errors()
    ]
    fields = ", ".join(dict.fromkeys(item["field"] for item in errors))
    return CommandError(
        {
            "type": f"{PROBLEM_TYPE_BASE}validation",
            "title": "Request validation failed",
            "status": 422,
            "detail": f"Invalid input: {fields}.",
            "errors": errors,
        }
    )


def _core_problem(error: Exception) -> CommandError:
    """The API's problem for a use-case or core error raised by a local estimate."""
    from service.api.problems import PROBLEM_TYPE_BASE
    from service.domain.errors import DomainError
    from service.usecases.errors import ServiceError

    if isinstance(error, DomainError):
        field = error.field if error.field.startswith("body.") else f"body.{error.field}"
        status, slug, title, detail = 422, "invalid-request", "Invalid request", str(error)
        errors = [{"field": field, "message": error.message, "type": type(error).__name__}]
    else:
        assert isinstance(error, ServiceError)  # noqa: S101
        status, slug, title, detail = error.status, error.slug, error.title, error.detail
        errors = []
        if error.field is not None:
            errors = [{"field": error.field, "message": error.detail, "type": error.slug}]
    problem = {"type": PROBLEM_TYPE_BASE + slug, "title": title, "status": status}
    problem |= {"detail": detail, **({"errors": errors} if errors else {})}
    return CommandError(problem)


def _client_problem(error: PlannerError) -> CommandError:
    if error.problem is not None:
        return CommandError(error.problem)
    return CommandError(
        {"title": type(error).__name__, "status": error.status, "detail": str(error)}
    )


def render_problem(problem: dict[str, Any]) -> str:
    """A problem for people: the title and detail, then each field with its flag."""
    status = f" ({problem['status']})" if problem.get("status") else ""
    lines = [f"error{status}: {problem.get('title', 'failed')}: {problem.get('detail', '')}"]
    for item in problem.get("errors") or []:
        field = str(item.get("field", ""))
        parts = field.split(".")
        where = f"{_flag(parts[1])} ({field})" if parts[0] == "body" and len(parts) > 1 else field
        lines.append(f"  {where}: {item.get('message', '')}")
    if problem.get("request_id"):
        lines.append(f"  request id: {problem['request_id']}")
    return "\n".join(lines)


# --- tables --------------------------------------------------------------------------------


def _grouped(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _table(rows: Iterable[Sequence[str]], *, right: Sequence[bool] = ()) -> list[str]:
    rows = [list(row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if i < len(right) and right[i] else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _size_row(label: str, value: int) -> tuple[str, str, str, str]:
    return (label, f"{value / _GB:,.2f}", f"{value / _GIB:,.2f}", f"{value:,}")


def _assumptions(items: Sequence[str]) -> list[str]:
    return ["", "Assumptions:", *(f"  - {item}" for item in items)]


def _model_line(model: Any) -> str:
    name = model.slug or model.source
    counts = f"{model.parameters:,} parameters"
    if model.active_parameters != model.parameters:
        counts += f" ({model.active_parameters:,} active)"
    return f"{name} ({model.source}), {counts}"


def render_memory(result: MemoryResponse) -> str:
    """The memory estimate as a table."""
    per_gpu = result.per_gpu
    share = f"{1 - result.headroom:.0%} of {result.gpu_memory_bytes:,} bytes"
    rows = [
        ("", "GB", "GiB", "bytes"),
        _size_row("weights", per_gpu.weights_bytes),
        _size_row("gradients", per_gpu.gradients_bytes),
        _size_row("optimizer states", per_gpu.optimizer_states_bytes),
        _size_row("model states", per_gpu.model_states_bytes),
        _size_row("activations", per_gpu.activations_bytes),
        _size_row("overhead", per_gpu.overhead_bytes),
        _size_row("total per GPU", per_gpu.total_bytes),
        _size_row(f"usable on {result.gpu}", result.usable_gpu_memory_bytes),
        _size_row("offloaded to CPU", result.cpu_offload_bytes),
        _size_row("sent per step", result.communication_bytes_per_step),
    ]
    per_parameter = ", ".join(f"{k} {v:g}" for k, v in result.bytes_per_parameter.items())
    lines = [
        f"Memory per GPU: {_model_line(result.model)}",
        "",
        *_table(rows, right=(False, True, True, True)),
        "",
        f"fits: {'yes' if result.fits else 'no'} (usable = {share})",
        f"data-parallel degree {result.data_parallel_degree}, sharding degree "
        f"{result.sharding_degree}, ZeRO stage {result.zero_stage}, sequence length "
        f"{result.sequence_length}, convention {result.convention}",
        f"bytes per parameter: {per_parameter}",
        *_assumptions(result.assumptions),
    ]
    return "\n".join(lines)


def render_compute(result: ComputeResponse) -> str:
    """The compute estimate as a table."""
    cost = f"{result.cost_usd:,.0f}" if result.cost_usd is not None else "unknown (no price)"
    energy = f"{result.energy_kwh:,.0f}" if result.energy_kwh is not None else "unknown"
    rows = [
        ("tokens", f"{result.tokens:,} ({result.tokens:.3g})"),
        ("GPUs", f"{result.gpus:,} x {result.gpu}"),
        ("training FLOPs", f"{result.training_flops:.4g}"),
        ("model FLOPs", f"{result.model_flops:.4g}"),
        ("FLOPs per token", f"{result.flops_per_token:.4g}"),
        ("petaflop/s-days", f"{result.petaflop_s_days:,.1f}"),
        ("GPU-hours", f"{result.gpu_hours:,.0f}"),
        ("wall-clock days", f"{result.wall_clock_days:,.2f}"),
        ("cost (USD)", cost),
        ("energy (kWh)", energy),
        ("MFU / HFU", f"{result.mfu:.1%} / {result.hfu:.1%}"),
        (
            "TFLOP/s per GPU",
            f"{result.achieved_tflops_per_gpu:,.1f} of {_grouped(result.peak_tflops_per_gpu)} "
            f"({result.peak_precision} dense peak)",
        ),
        (
            "tokens per second",
            f"{result.tokens_per_second:,.0f} ({_grouped(result.tokens_per_second_per_gpu)} "
            "per GPU)",
        ),
    ]
    lines = [
        f"Compute: {_model_line(result.model)}",
        "",
        *_table(rows),
        *_assumptions(result.assumptions),
    ]
    return "\n".join(lines)


def _count(value: int | None) -> str:
    if value is None:
        return "-"
    for size, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M")):
        if value >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:,}"


def render_models(models: Sequence[ModelRead]) -> str:
    """Catalogue models, one a line."""
    rows = [("slug", "name", "family", "parameters", "tokens", "year")]
    rows += [
        (
            m.slug,
            m.name,
            m.family.value,
            _count(m.parameters),
            _count(m.training_tokens),
            str(m.year or "-"),
        )
        for m in models
    ]
    table = _table(rows, right=(False, False, False, True, True, True))
    return "\n".join([*table, f"{len(models)} models"])


def render_model(model: ModelRead) -> str:
    """One catalogue model."""
    rows = [
        ("slug", model.slug),
        ("name", model.name),
        ("family", f"{model.family.value} ({model.family_alias})"),
        ("objective", model.objective.value),
        ("parameters", f"{model.parameters:,}"),
        ("training tokens", f"{model.training_tokens:,}" if model.training_tokens else "-"),
        ("organization", model.organization or "-"),
        ("year", str(model.year or "-")),
        ("version", f"{model.version} ({model.origin})"),
    ]
    return "\n".join([*_table(rows), "", "Sources:", *(f"  - {s}" for s in model.sources)])


# --- the commands --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SeedModel:
    """A catalogue model as the estimates read it, from the shipped seed file."""

    slug: str
    family: str
    parameters: int
    training_tokens: int | None
    architecture: dict[str, Any] | None


@cache
def seed_catalogues() -> Catalogues:
    """The shipped catalogues (``service/catalogue/data``), validated and normalised exactly as
    ``python -m service migrate`` stores them."""
    from service.catalogue import load_seed
    from service.domain.hardware import GpuSpec
    from service.persistence.tables import HardwareRow
    from service.schemas.hardware import HardwareCreate
    from service.schemas.models import ModelCreate
    from service.usecases.errors import InvalidRequest
    from service.usecases.estimates import Catalogues
    from service.usecases.hardware import HARDWARE, to_gpu_spec

    models: dict[str, _SeedModel] = {}
    for entry in load_seed("models").entries:
        stored = ModelCreate.model_validate(entry).model_dump(mode="json")
        models[stored["slug"]] = _SeedModel(
            slug=stored["slug"],
            family=stored["family"],
            parameters=stored["parameters"],
            training_tokens=stored["training_tokens"],
            architecture=stored["architecture"],
        )
    gpus: dict[str, GpuSpec] = {}
    for entry in load_seed("hardware").entries:
        values = HARDWARE.values(HardwareCreate.model_validate(entry), only_set=False)
        # A transient row (never added to a session) so that the API's own mapping applies.
        gpus[entry["slug"]] = to_gpu_spec(HardwareRow(slug=entry["slug"], **values))

    def gpu(slug: str) -> GpuSpec:
        if slug not in gpus:
            raise InvalidRequest(
                f"No accelerator with slug '{slug}' in the hardware catalogue.", field="body.gpu"
            )
        return gpus[slug]

    return Catalogues(model=models.get, gpu=gpu)


def _local_memory(request: BaseModel) -> BaseModel:
    from service.usecases.estimates import memory_estimate

    assert isinstance(request, MemoryRequest)  # noqa: S101
    return memory_estimate(seed_catalogues(), request)


def _local_compute(request: BaseModel) -> BaseModel:
    from service.usecases.estimates import compute_estimate

    assert isinstance(request, ComputeRequest)  # noqa: S101
    return compute_estimate(seed_catalogues(), request)


def _remote_memory(client: PlannerClient, request: BaseModel) -> BaseModel:
    assert isinstance(request, MemoryRequest)  # noqa: S101
    return client.estimate_memory(request)


def _remote_compute(client: PlannerClient, request: BaseModel) -> BaseModel:
    assert isinstance(request, ComputeRequest)  # noqa: S101
    return client.estimate_compute(request)


def _render_memory(result: BaseModel) -> str:
    assert isinstance(result, MemoryResponse)  # noqa: S101
    return render_memory(result)


def _render_compute(result: BaseModel) -> str:
    assert isinstance(result, ComputeResponse)  # noqa: S101
    return render_compute(result)


@dataclass(frozen=True, slots=True)
class _Estimate:
    help: str
    schema: type[BaseModel]
    local: Callable[[BaseModel], BaseModel]
    remote: Callable[[PlannerClient, BaseModel], BaseModel]
    render: Callable[[BaseModel], str]


ESTIMATES = {
    "memory": _Estimate(
        "memory per GPU: weights, gradients, optimizer states, activations; does it fit",
        MemoryRequest,
        _local_memory,
        _remote_memory,
        _render_memory,
    ),
    "compute": _Estimate(
        "FLOPs, GPU-hours, wall-clock days, cost and energy of a training run",
        ComputeRequest,
        _local_compute,
        _remote_compute,
        _render_compute,
    ),
}


def _emit(text: str) -> None:
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (``| head``): silence the rest, as the Python docs advise.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _print_answer(
    args: argparse.Namespace, result: BaseModel, render: Callable[[Any], str]
) -> None:
    # The same serializer FastAPI uses for a response model: the bytes the API would send.
    _emit(result.model_dump_json() if args.json else render(result))


def _failed(args: argparse.Namespace, error: CommandError) -> int:
    if getattr(args, "json", False):
        print(json.dumps(error.problem), file=sys.stderr)
    else:
        print(render_problem(error.problem), file=sys.stderr)
    return error.exit_status


def _request(args: argparse.Namespace, schema: type[BaseModel]) -> BaseModel:
    try:
        return schema.model_validate(request_fields(args))
    except ValidationError as error:
        raise validation_problem(error) from error


def _estimate_locally(kind: str, args: argparse.Namespace) -> int:
    from service.domain.errors import DomainError
    from service.usecases.errors import ServiceError

    estimate = ESTIMATES[kind]
    try:
        request = _request(args, estimate.schema)
        with Progress(f"estimating {kind}", enabled=args.progress):
            try:
                result = estimate.local(request)
            except (ServiceError, DomainError) as error:
                raise _core_problem(error) from error
    except CommandError as error:
        return _failed(args, error)
    _print_answer(args, result, estimate.render)
    return 0


def _client(args: argparse.Namespace) -> PlannerClient:
    from service.client import PlannerClient

    # httpx logs every request URL at INFO; the command's output is the answer.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return PlannerClient(
        args.url,
        args.api_key or os.environ.get("PLANNER_API_KEY") or None,
        timeout=args.timeout,
        retries=args.retries,
    )


def _remotely(args: argparse.Namespace, work: Callable[[PlannerClient], int]) -> int:
    from service.client import PlannerError

    try:
        with _client(args) as client:
            return work(client)
    except PlannerError as error:
        return _failed(args, _client_problem(error))
    except CommandError as error:
        return _failed(args, error)


def _estimate_remotely(kind: str, args: argparse.Namespace) -> int:
    estimate = ESTIMATES[kind]

    def work(client: PlannerClient) -> int:
        request = _request(args, estimate.schema)
        _print_answer(args, estimate.remote(client, request), estimate.render)
        return 0

    return _remotely(args, work)


_MODEL_FILTERS = ("family", "objective", "domain", "q", "min_parameters", "max_parameters", "sort")


def _list_models(args: argparse.Namespace) -> int:
    def work(client: PlannerClient) -> int:
        filters: dict[str, Any] = {
            name: getattr(args, name) for name in _MODEL_FILTERS if getattr(args, name) is not None
        }
        models: list[ModelRead] = []
        with Progress("listing models", enabled=args.progress) as progress:
            for model in client.list_models(**filters):
                models.append(model)
                progress.advance()
        if args.json:
            _emit(TypeAdapter(list[ModelRead]).dump_json(models).decode())
        else:
            _emit(render_models(models))
        return 0

    return _remotely(args, work)


def _get_model(args: argparse.Namespace) -> int:
    def work(client: PlannerClient) -> int:
        _print_answer(args, client.get_model(args.slug), render_model)
        return 0

    return _remotely(args, work)


def _output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print the API's JSON response body instead"
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr when the work lasts over a second "
        "(default: only on a terminal)",
    )


def _estimate_parsers(parent: argparse.ArgumentParser, *, remote: bool) -> None:
    kinds = parent.add_subparsers(
        dest="estimate", required=True, metavar="{memory,compute}", parser_class=_Parser
    )
    runner = _estimate_remotely if remote else _estimate_locally
    for kind, estimate in ESTIMATES.items():
        parser = kinds.add_parser(
            kind, help=estimate.help, description=estimate.help, allow_abbrev=False
        )
        add_request_flags(parser, estimate.schema)
        _output_flags(parser)
        parser.set_defaults(run=lambda args, kind=kind: runner(kind, args))


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``estimate`` and ``client`` to ``python -m service``'s subcommands."""
    estimate = commands.add_parser(
        "estimate",
        help="estimate memory or compute from the local core (no server, no database)",
        description="Answer from the local core, resolving model and GPU slugs from the "
        "catalogue shipped with the package; the flags are the API's request fields.",
    )
    _estimate_parsers(estimate, remote=False)

    client = commands.add_parser(
        "client",
        help="call a running service",
        description="Call a running service over HTTP (retries on 503, typed errors).",
    )
    client.add_argument(
        "--url",
        default=os.environ.get("PLANNER_URL", "http://127.0.0.1:8000"),
        help="the service's base URL (default: $PLANNER_URL, else http://127.0.0.1:8000)",
    )
    client.add_argument(
        "--api-key", metavar="KEY", help="X-API-Key for writes (default: $PLANNER_API_KEY)"
    )
    client.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="seconds (default: 10)"
    )
    client.add_argument(
        "--retries",
        type=int,
        default=3,
        metavar="N",
        help="retries on 503 and network errors, for safe calls (default: 3)",
    )
    resources = client.add_subparsers(dest="resource", required=True)

    models = resources.add_parser("models", help="the model catalogue")
    actions = models.add_subparsers(dest="action", required=True, parser_class=_Parser)
    listing = actions.add_parser("list", help="every model matching the filters")
    listing.add_argument("--family", choices=[f.value for f in Family])
    listing.add_argument("--objective", choices=[o.value for o in Objective])
    listing.add_argument("--domain")
    listing.add_argument("--q", help="text in the name or slug")
    listing.add_argument("--min-parameters", type=_integer, metavar="N")
    listing.add_argument("--max-parameters", type=_integer, metavar="N")
    listing.add_argument("--sort", choices=[s.value for s in ModelSort])
    _output_flags(listing)
    listing.set_defaults(run=_list_models)
    getting = actions.add_parser("get", help="one model")
    getting.add_argument("slug")
    _output_flags(getting)
    getting.set_defaults(run=_get_model)

    remote = resources.add_parser("estimate", help="memory or compute estimates, by the service")
    _estimate_parsers(remote, remote=True)
