"""The ``estimate``, ``optimal``, ``plan``, ``planner`` and ``client`` commands of ``python -m
service``.

``estimate memory|compute``, ``optimal``, ``plan`` and ``planner search`` answer from the local
core, with no server and no database: model and GPU slugs are resolved from the catalogue seed
files shipped in the package, through the same mapping code the API uses
(:class:`service.usecases.estimates.Catalogues`), and laws are the built-in ones; ``plan``
computes what ``POST /v1/plans`` would store, without storing it. ``client`` asks a running
service, through :class:`service.client.PlannerClient`.

Every field of the request schema is a flag (``gpus`` -> ``--gpus``, ``micro_batch_size`` ->
``--micro-batch-size``), with enum choices, ``--flag/--no-flag`` for booleans, several values,
commas or repeats for lists (``--gpu-types a100-80gb,h100-80gb``), and a JSON text or
``@file.json`` for ``--architecture`` and ``--hf-config``. Answers print as a table, or with
``--json`` as exactly the API's response body. Invalid input prints a problem (the API's 422)
and exits with status 2; any other failure exits with status 1. Work that lasts over a second
shows a progress bar on stderr (on a terminal, or with ``--progress``).
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
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    Literal,
    Self,
    TextIO,
    Union,
    get_args,
    get_origin,
)

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined

from service.domain.types import Family, Objective
from service.schemas.estimates import ComputeRequest, ComputeResponse, MemoryRequest, MemoryResponse
from service.schemas.fields import SLUG_PATTERN
from service.schemas.models import ModelRead, ModelSort
from service.schemas.planner import PlannerCandidate, PlannerSearchRequest, PlannerSearchResponse
from service.schemas.plans import PlanChinchilla, PlanCreate, PlanRead, PlanResults
from service.schemas.scaling import ComputeOptimalRequest, ComputeOptimalResponse, LawRef

if TYPE_CHECKING:
    from service.client import PlannerClient, PlannerError
    from service.domain.hardware import GpuSpec
    from service.usecases.estimates import Catalogues

#: Where a field's flags go in the parsed namespace; only the flags given are set.
_BODY = "body."
_GB = 10**9
_GIB = 2**30


# --- progress ------------------------------------------------------------------------------

#: Seconds of work before a progress bar is drawn (the commands' bars; tests lower it).
PROGRESS_DELAY = 1.0


class Progress:
    """A one-line progress bar on stderr, drawn only once the work has lasted ``delay`` seconds
    (default :data:`PROGRESS_DELAY`) and only on a terminal (or when ``enabled=True``); erased
    when the work ends.

    ``with Progress("searching", total=n) as bar: ... bar.advance()``, or ``bar.update(done,
    total)`` as a core's ``progress(done, total)`` callback; without a total it shows a moving
    block, the count done and the time.
    """

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        delay: float | None = None,
        interval: float = 0.1,
        width: int = 24,
    ) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.delay = PROGRESS_DELAY if delay is None else delay
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

    def update(self, done: int, total: int | None = None) -> None:
        """Say how much is done, and of how much (a core's ``progress(done, total)``)."""
        with self._lock:
            self.done = done
            if total is not None:
                self.total = total

    def render(self) -> str:
        """The bar as it stands."""
        elapsed = time.monotonic() - self._started
        if self.total:
            filled = min(self.width, self.width * self.done // self.total)
            bar = "#" * filled + "." * (self.width - filled)
            count = f"{self.done:,}/{self.total:,}"
        else:
            position = int(elapsed / self.interval) % (self.width - 3)
            bar = " " * position + "===" + " " * (self.width - 3 - position)
            count = f"{self.done:,} done" if self.done else ""
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


def _choices(kind: Any) -> list[str] | None:
    """The values an enum or a ``Literal`` allows, else None."""
    if isinstance(kind, type) and issubclass(kind, Enum):
        return [str(member.value) for member in kind]
    if get_origin(kind) is Literal:
        return [str(value) for value in get_args(kind)]
    return None


def _scalar(text: str) -> int | float | str:
    """A number where the text is one (``1e12`` is an integer), else the text itself."""
    number = _integer(text)
    if isinstance(number, int):
        return number
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


class _ListAction(argparse.Action):
    """A list field: values after the flag (``--gpu-types a100-80gb h100-80gb``), repeated
    flags, and, for values that cannot contain one, comma-separated (``--strategies
    zero-2,zero-3``)."""

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str,
        *,
        element: Callable[[str], Any] | None = None,
        allowed: Sequence[str] | None = None,
        split: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(option_strings, dest, nargs="+", **options)
        self.element = element
        self.allowed = allowed
        self.split = split

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        texts = [values] if isinstance(values, str) else list(values or [])
        if self.split:
            texts = [part.strip() for text in texts for part in text.split(",") if part.strip()]
        for text in texts:
            if self.allowed is not None and text not in self.allowed:
                choices = ", ".join(repr(value) for value in self.allowed)
                raise argparse.ArgumentError(
                    self, f"invalid choice: {text!r} (choose from {choices})"
                )
        items = [self.element(text) if self.element else text for text in texts]
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), *items])


def _list_options(kind: Any) -> tuple[dict[str, Any], str]:
    """Options of a list field's flag, and what to add to its help."""
    raw = get_args(kind)[0] if get_args(kind) else str
    element = _base_type(raw)
    metadata = get_args(raw)[1:] if get_origin(raw) is Annotated else ()
    allowed = _choices(element)
    options: dict[str, Any] = {"action": _ListAction, "allowed": allowed}
    if allowed is not None:
        options["metavar"] = element.__name__.upper() if isinstance(element, type) else "VALUE"
        return options, f"One or more of {', '.join(allowed)}, or comma-separated."
    if element is int:
        options |= {"element": _integer, "metavar": "N"}
    elif element is float:
        options["metavar"] = "X"
    elif _is_slug(raw, metadata):
        options["metavar"] = "SLUG"
    else:  # free text may hold commas: one value a word
        options |= {"split": False, "metavar": "TEXT"}
        return options, "One or more."
    return options, "One or more, or comma-separated."


def _union_options(kind: Any) -> dict[str, Any] | None:
    """Options for a union of scalars (``N`` or ``compute-optimal``), else None."""
    if get_origin(kind) not in (Union, types.UnionType):
        return None
    options = [_base_type(option) for option in get_args(kind) if option is not type(None)]
    names: list[str] = []
    for option in options:
        if option in (int, float):
            names.append("N" if option is int else "X")
        elif _choices(option) is not None:
            names.extend(_choices(option) or [])
        elif option is str:
            names.append("TEXT")
        else:
            return None
    return {"type": _scalar, "metavar": "|".join(names)}


def add_request_flags(parser: argparse.ArgumentParser, schema: type[BaseModel]) -> None:
    """One ``--flag`` per field of ``schema``; only the flags given reach the request."""
    group = parser.add_argument_group(f"{schema.__name__} fields (as in the API)")
    for name, info in schema.model_fields.items():
        kind = _base_type(info.annotation)
        default = info.get_default(call_default_factory=True)
        shown = default.value if isinstance(default, Enum) else default
        help_text = (info.description or "").replace("%", "%%")
        if default not in (None, [], PydanticUndefined):
            help_text = f"{help_text} (default: {shown})".strip()
        options: dict[str, Any] = {"dest": _BODY + name, "default": argparse.SUPPRESS}
        union = _union_options(kind)
        if get_origin(kind) is list:
            listed, more = _list_options(kind)
            options |= listed
            help_text = f"{help_text} {more}".strip()
        elif union is not None:
            options |= union
        elif kind is bool:
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


def _memory_rows(result: MemoryResponse) -> list[tuple[str, str, str, str]]:
    per_gpu = result.per_gpu
    return [
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


def render_memory(result: MemoryResponse) -> str:
    """The memory estimate as a table."""
    share = f"{1 - result.headroom:.0%} of {result.gpu_memory_bytes:,} bytes"
    rows = _memory_rows(result)
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


def _compute_rows(result: ComputeResponse) -> list[tuple[str, str]]:
    cost = f"{result.cost_usd:,.0f}" if result.cost_usd is not None else "unknown (no price)"
    energy = f"{result.energy_kwh:,.0f}" if result.energy_kwh is not None else "unknown"
    return [
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


def render_compute(result: ComputeResponse) -> str:
    """The compute estimate as a table."""
    lines = [
        f"Compute: {_model_line(result.model)}",
        "",
        *_table(_compute_rows(result)),
        *_assumptions(result.assumptions),
    ]
    return "\n".join(lines)


def _count(value: float | None) -> str:
    if value is None:
        return "-"
    for size, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M")):
        if value >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:,}" if isinstance(value, int) else _grouped(value)


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


def _law_lines(law: LawRef) -> list[str]:
    constants = ", ".join(f"{name} {value:g}" for name, value in law.constants.items())
    return [f"Law {law.id}: {law.citation}", *([f"Constants: {constants}"] if constants else [])]


def render_optimal(result: ComputeOptimalResponse) -> str:
    """The compute-optimal model for a budget."""
    loss = "-"
    if result.predicted_loss is not None:
        units = f" ({result.loss_units})" if result.loss_units else ""
        loss = f"{result.predicted_loss:.4g}{units}"
    rows = [
        (
            "budget",
            f"{result.compute_flops:.4g} FLOPs ({result.petaflop_s_days:,.1f} petaflop/s-days)",
        ),
        ("parameters", f"{result.parameters:.4g} ({_count(result.parameters)})"),
        ("tokens", f"{result.tokens:.4g} ({_count(result.tokens)})"),
        ("tokens per parameter", f"{result.tokens_per_parameter:,.1f}"),
        ("predicted loss", loss),
    ]
    lines = [
        f"Compute-optimal under {result.law.id}",
        "",
        *_table(rows),
        "",
        *_law_lines(result.law),
        *_assumptions(result.assumptions),
    ]
    return "\n".join(lines)


def _chinchilla_rows(check: PlanChinchilla, tokens: int) -> list[tuple[str, str]]:
    point = check.compute_optimal
    loss = "-"
    if check.predicted_loss is not None:
        loss = f"{check.predicted_loss:.4g}"
        if check.optimal_predicted_loss is not None:
            loss += f" (compute-optimal: {check.optimal_predicted_loss:.4g})"
    return [
        ("verdict", f"{check.verdict.value} (band {check.band.low:g}-{check.band.high:g}x)"),
        ("tokens per parameter", f"{check.tokens_per_parameter:,.1f}"),
        (
            "optimal tokens",
            f"{check.optimal_tokens:.4g} for the size; the plan has {tokens:.4g} "
            f"({check.token_ratio:.2f}x)",
        ),
        (
            "same compute, optimal",
            f"{point.parameters:.4g} parameters on {point.tokens:.4g} tokens",
        ),
        ("predicted loss", loss),
    ]


def render_plan(
    name: str, inputs: PlanCreate, results: PlanResults, *, stored: PlanRead | None = None
) -> str:
    """A plan: its recommendations first, then its memory, compute and Chinchilla check."""
    memory, compute = results.memory, results.compute
    headline = f"Plan: {name}"
    if stored is not None:
        headline += f" (id {stored.id}, version {stored.version}, {stored.estimator_version})"
    fits = "fits" if memory.fits else "does NOT fit"
    lines = [
        headline,
        f"{_model_line(results.model)}; {results.tokens:,} tokens ({results.tokens_source})",
        "",
        "Recommendations:",
        *(f"  - {line}" for line in results.recommendations),
        "",
        f"Memory per GPU: {inputs.strategy.value} on {inputs.gpus:,} x {memory.gpu}, {fits} "
        f"(ZeRO stage {memory.zero_stage}, sequence length {memory.sequence_length})",
        *(f"  {line}" for line in _table(_memory_rows(memory), right=(False, True, True, True))),
        "",
        "Compute:",
        *(f"  {line}" for line in _table(_compute_rows(compute))),
        "",
        f"Chinchilla check under {results.chinchilla.law.id}:",
        *(f"  {line}" for line in _table(_chinchilla_rows(results.chinchilla, results.tokens))),
        "",
        *_law_lines(results.chinchilla.law),
        f"Assumptions: {len(set(memory.assumptions) | set(compute.assumptions))}, those of the "
        "memory and compute estimates (listed by --json, and by `estimate memory|compute`).",
    ]
    return "\n".join(lines)


def _days(value: float) -> str:
    return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


_SEARCH_HEADER = (
    "#",
    "gpu",
    "gpus",
    "strategy",
    "offload",
    "t",
    "p",
    "micro-batch",
    "checkpointing",
    "GB per GPU",
    "days",
    "cost (USD)",
    "effective MFU",
)
_SEARCH_RIGHT = (True, False, True, False, False, True, True, True, False, True, True, True, True)


def _candidate_row(rank: int, candidate: PlannerCandidate) -> tuple[str, ...]:
    settings = candidate.settings
    return (
        str(rank),
        settings.gpu,
        f"{settings.gpus:,}",
        settings.strategy,
        settings.offload,
        str(settings.tensor_parallel),
        str(settings.pipeline_parallel),
        str(settings.micro_batch_size),
        settings.activation_checkpointing,
        f"{candidate.per_gpu.total_bytes / _GB:,.1f}",
        _days(candidate.wall_clock_days),
        _usd(candidate.cost_usd),
        f"{candidate.effective_mfu:.1%}",
    )


def render_search(result: PlannerSearchResponse) -> str:
    """The planner's best configurations as a table, then what each strategy can do."""
    lines = [
        f"Planner: {result.evaluated:,} configurations evaluated for {result.parameters:,} "
        f"parameters; {result.feasible_count:,} feasible.",
        "",
    ]
    if result.feasible:
        lines.append(f"The best {len(result.feasible)} by {result.objective}:")
        rows: list[tuple[str, ...]] = [_SEARCH_HEADER]
        rows += [_candidate_row(rank, c) for rank, c in enumerate(result.feasible, start=1)]
        lines += [f"  {line}" for line in _table(rows, right=_SEARCH_RIGHT)]
    else:
        lines.append("Nothing fits within the limits. The nearest misses:")
        rows = [_SEARCH_HEADER]
        rows += [
            _candidate_row(rank, miss.candidate)
            for rank, miss in enumerate(result.nearest_misses, start=1)
        ]
        lines += [f"  {line}" for line in _table(rows, right=_SEARCH_RIGHT)]
        for rank, miss in enumerate(result.nearest_misses, start=1):
            first, *more = miss.needs or ["-"]
            lines.append(f"  {rank}: {first}")
            lines += [f"     - {line}" for line in more]
    if result.infeasible_counts:
        counts = result.infeasible_counts.items()
        dropped = ", ".join(f"{why} {count:,}" for why, count in counts if count)
        lines += ["", f"Dropped for: {dropped}."] if dropped else []
    lines += ["", "Per strategy:"]
    lines += [f"  - {verdict.strategy}: {verdict.sentence}" for verdict in result.per_strategy]
    lines += _assumptions(result.assumptions)
    return "\n".join(lines)


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
def _seed_gpus() -> dict[str, GpuSpec]:
    """The shipped accelerators by slug, in slug order (as the database lists them)."""
    from service.catalogue import load_seed
    from service.persistence.tables import HardwareRow
    from service.schemas.hardware import HardwareCreate
    from service.usecases.hardware import HARDWARE, to_gpu_spec

    gpus: dict[str, GpuSpec] = {}
    for entry in sorted(load_seed("hardware").entries, key=lambda entry: str(entry["slug"])):
        values = HARDWARE.values(HardwareCreate.model_validate(entry), only_set=False)
        # A transient row (never added to a session) so that the API's own mapping applies.
        gpus[entry["slug"]] = to_gpu_spec(HardwareRow(slug=entry["slug"], **values))
    return gpus


@cache
def seed_catalogues() -> Catalogues:
    """The shipped catalogues (``service/catalogue/data``), validated and normalised exactly as
    ``python -m service migrate`` stores them."""
    from service.catalogue import load_seed
    from service.schemas.models import ModelCreate
    from service.usecases.errors import InvalidRequest
    from service.usecases.estimates import Catalogues

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
    gpus = _seed_gpus()

    def gpu(slug: str) -> GpuSpec:
        if slug not in gpus:
            raise InvalidRequest(
                f"No accelerator with slug '{slug}' in the hardware catalogue.", field="body.gpu"
            )
        return gpus[slug]

    return Catalogues(model=models.get, gpu=gpu)


def seed_hardware() -> tuple[GpuSpec, ...]:
    """Every shipped accelerator, in slug order (the planner's alternatives, a plan's
    "a larger accelerator")."""
    return tuple(_seed_gpus().values())


class LocalPlan(BaseModel):
    """A plan computed by ``python -m service plan`` and not stored: the fields of the API's
    plan (``PlanRead``) less those that storing gives it (id, version, times, links)."""

    name: str
    notes: str | None
    tags: list[str]
    fits: bool
    inputs: PlanCreate
    results: PlanResults
    estimator_version: str


def _default_plan_name(fields: dict[str, Any]) -> dict[str, Any]:
    """``--name`` may be left out on the command line: the model, the GPUs and their count."""
    if "name" in fields:
        return fields
    defaults = PlanCreate.model_fields
    what = fields.get("model") or "custom model"
    gpus = fields.get("gpus", defaults["gpus"].default)
    gpu = fields.get("gpu", defaults["gpu"].default)
    return {"name": f"{what} on {gpus} x {gpu}", **fields}


def _local_memory(request: BaseModel, _progress: Progress) -> BaseModel:
    from service.usecases.estimates import memory_estimate

    assert isinstance(request, MemoryRequest)  # noqa: S101
    return memory_estimate(seed_catalogues(), request)


def _local_compute(request: BaseModel, _progress: Progress) -> BaseModel:
    from service.usecases.estimates import compute_estimate

    assert isinstance(request, ComputeRequest)  # noqa: S101
    return compute_estimate(seed_catalogues(), request)


def _local_optimal(request: BaseModel, _progress: Progress) -> BaseModel:
    from service.usecases.scaling import optimal_for_budget

    assert isinstance(request, ComputeOptimalRequest)  # noqa: S101
    return optimal_for_budget(seed_catalogues(), request)


def _local_plan(request: BaseModel, _progress: Progress) -> BaseModel:
    from service.usecases.plans import compute_plan, estimator_version

    assert isinstance(request, PlanCreate)  # noqa: S101
    results = compute_plan(seed_catalogues(), request, hardware=seed_hardware())
    return LocalPlan(
        name=request.name,
        notes=request.notes,
        tags=list(request.tags),
        fits=results.memory.fits,
        inputs=request,
        results=results,
        estimator_version=estimator_version(),
    )


def _local_search(request: BaseModel, progress: Progress) -> BaseModel:
    from service.usecases.planner import search

    assert isinstance(request, PlannerSearchRequest)  # noqa: S101
    return search(seed_catalogues(), request, progress.update, hardware=seed_hardware())


def _remote_memory(client: PlannerClient, request: BaseModel) -> BaseModel:
    assert isinstance(request, MemoryRequest)  # noqa: S101
    return client.estimate_memory(request)


def _remote_compute(client: PlannerClient, request: BaseModel) -> BaseModel:
    assert isinstance(request, ComputeRequest)  # noqa: S101
    return client.estimate_compute(request)


def _remote_optimal(client: PlannerClient, request: BaseModel) -> BaseModel:
    assert isinstance(request, ComputeOptimalRequest)  # noqa: S101
    return client.compute_optimal(request)


def _remote_plan(client: PlannerClient, request: BaseModel) -> BaseModel:
    assert isinstance(request, PlanCreate)  # noqa: S101
    return client.create_plan(request).value


def _remote_search(client: PlannerClient, request: BaseModel) -> BaseModel:
    assert isinstance(request, PlannerSearchRequest)  # noqa: S101
    return client.planner_search(request)


def _render_memory(result: BaseModel) -> str:
    assert isinstance(result, MemoryResponse)  # noqa: S101
    return render_memory(result)


def _render_compute(result: BaseModel) -> str:
    assert isinstance(result, ComputeResponse)  # noqa: S101
    return render_compute(result)


def _render_optimal(result: BaseModel) -> str:
    assert isinstance(result, ComputeOptimalResponse)  # noqa: S101
    return render_optimal(result)


def _render_plan(result: BaseModel) -> str:
    if isinstance(result, PlanRead):
        return render_plan(result.name, result.inputs, result.results, stored=result)
    assert isinstance(result, LocalPlan)  # noqa: S101
    return render_plan(result.name, result.inputs, result.results)


def _render_search(result: BaseModel) -> str:
    assert isinstance(result, PlannerSearchResponse)  # noqa: S101
    return render_search(result)


@dataclass(frozen=True, slots=True)
class _Command:
    """A command whose flags are an API request's fields, answered locally or by a service."""

    help: str
    schema: type[BaseModel]
    label: str
    local: Callable[[BaseModel, Progress], BaseModel]
    remote: Callable[[PlannerClient, BaseModel], BaseModel]
    render: Callable[[BaseModel], str]
    fields: Callable[[dict[str, Any]], dict[str, Any]] = dict


ESTIMATES = {
    "memory": _Command(
        "memory per GPU: weights, gradients, optimizer states, activations; does it fit",
        MemoryRequest,
        "estimating memory",
        _local_memory,
        _remote_memory,
        _render_memory,
    ),
    "compute": _Command(
        "FLOPs, GPU-hours, wall-clock days, cost and energy of a training run",
        ComputeRequest,
        "estimating compute",
        _local_compute,
        _remote_compute,
        _render_compute,
    ),
}
OPTIMAL = _Command(
    "the compute-optimal model size and tokens for a budget (FLOPs, petaflop/s-days, "
    "GPU-hours on a GPU at an MFU, or dollars) under a scaling law",
    ComputeOptimalRequest,
    "optimising",
    _local_optimal,
    _remote_optimal,
    _render_optimal,
)
PLAN = _Command(
    "a whole run: memory per GPU and fit, FLOPs, days, cost, energy, the Chinchilla check "
    "and recommendations (--name defaults to the model and GPUs)",
    PlanCreate,
    "planning",
    _local_plan,
    _remote_plan,
    _render_plan,
    _default_plan_name,
)
SEARCH = _Command(
    "search every configuration (GPU type and count, strategy, offload, tensor and pipeline "
    "degrees, micro-batch, checkpointing) for those that fit, ranked by the objective",
    PlannerSearchRequest,
    "searching",
    _local_search,
    _remote_search,
    _render_search,
)


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


def _request(
    args: argparse.Namespace,
    schema: type[BaseModel],
    prepare: Callable[[dict[str, Any]], dict[str, Any]] = dict,
) -> BaseModel:
    try:
        return schema.model_validate(prepare(request_fields(args)))
    except ValidationError as error:
        raise validation_problem(error) from error


def _locally(command: _Command, args: argparse.Namespace) -> int:
    from service.domain.errors import DomainError
    from service.usecases.errors import ServiceError

    try:
        request = _request(args, command.schema, command.fields)
        with Progress(command.label, enabled=args.progress) as progress:
            try:
                result = command.local(request, progress)
            except (ServiceError, DomainError) as error:
                raise _core_problem(error) from error
    except CommandError as error:
        return _failed(args, error)
    _print_answer(args, result, command.render)
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


def _ask(command: _Command, args: argparse.Namespace) -> int:
    """A command's request sent to the service, a bar (with no total) while it answers."""

    def work(client: PlannerClient) -> int:
        request = _request(args, command.schema, command.fields)
        with Progress(f"{command.label} (service)", enabled=args.progress):
            result = command.remote(client, request)
        _print_answer(args, result, command.render)
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


def _get_plan(args: argparse.Namespace) -> int:
    def work(client: PlannerClient) -> int:
        _print_answer(args, client.get_plan(args.plan_id), _render_plan)
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


def _command_parser(
    parent: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    command: _Command,
    *,
    remote: bool,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """The parser of one request command: the schema's fields as flags, ``--json``,
    ``--progress``; run locally or against the service."""
    # Unknown flags are reported by _Parser, with the closest known ones, whatever the parent.
    parent_class = parent._parser_class
    parent._parser_class = _Parser
    try:
        parser = parent.add_parser(
            name, help=command.help, description=description or command.help, allow_abbrev=False
        )
    finally:
        parent._parser_class = parent_class
    add_request_flags(parser, command.schema)
    _output_flags(parser)
    runner = _ask if remote else _locally
    parser.set_defaults(run=lambda args: runner(command, args))
    return parser


def _estimate_parsers(parent: argparse.ArgumentParser, *, remote: bool) -> None:
    kinds = parent.add_subparsers(dest="estimate", required=True, metavar="{memory,compute}")
    for kind, estimate in ESTIMATES.items():
        _command_parser(kinds, kind, estimate, remote=remote)


def _planner_parsers(parent: argparse.ArgumentParser, *, remote: bool) -> None:
    actions = parent.add_subparsers(dest="action", required=True)
    _command_parser(actions, "search", SEARCH, remote=remote)


_LOCAL = "answered from the local core, with no server and no database: model and GPU slugs "
_LOCAL += "come from the catalogue shipped with the package, laws from the built-in ones"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``estimate``, ``optimal``, ``plan``, ``planner`` and ``client`` to ``python -m
    service``'s subcommands."""
    estimate = commands.add_parser(
        "estimate",
        help="estimate memory or compute from the local core (no server, no database)",
        description="Answer from the local core, resolving model and GPU slugs from the "
        "catalogue shipped with the package; the flags are the API's request fields.",
    )
    _estimate_parsers(estimate, remote=False)
    _command_parser(
        commands,
        "optimal",
        OPTIMAL,
        remote=False,
        description=f"{OPTIMAL.help}; {_LOCAL}. As POST /v1/scaling/compute-optimal.",
    )
    _command_parser(
        commands,
        "plan",
        PLAN,
        remote=False,
        description=f"{PLAN.help}; {_LOCAL}. The plan is computed as POST /v1/plans computes "
        "it, and not stored.",
    )
    planner = commands.add_parser(
        "planner",
        help="search every configuration for the ones that fit (local core)",
        description=f"The planner search, {_LOCAL}. As POST /v1/planner/search.",
    )
    _planner_parsers(planner, remote=False)

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

    _command_parser(resources, "optimal", OPTIMAL, remote=True)

    plans = resources.add_parser("plan", help="create (compute and store) or get a plan")
    plan_actions = plans.add_subparsers(dest="action", required=True)
    _command_parser(
        plan_actions,
        "create",
        PLAN,
        remote=True,
        description=f"{PLAN.help}; computed and stored by the service (needs the API key).",
    )
    plan_get = plan_actions.add_parser("get", help="one stored plan")
    plan_get.add_argument("plan_id", metavar="ID")
    _output_flags(plan_get)
    plan_get.set_defaults(run=_get_plan)

    searching = resources.add_parser("planner", help="the planner search, by the service")
    _planner_parsers(searching, remote=True)
