"""A route class for the service's hot endpoints: one model in (the JSON body or the query
string), the request's own dependencies, one answer out.

FastAPI's request handler is general: it decodes the body with ``json.loads`` and validates the
resulting Python objects through its dependency solver, which also introspects every
dependency and every field of a query model (its annotation, aliases, whether it is a sequence)
on every request, then validates the endpoint's return value again before serialising it. For
an estimate that was most of the request's CPU: the memory estimate spent 200 µs per request
in-process, of which its use-case and core were about 50; the catalogue listing spent 40% of
its CPU reading its query model (``bench/README.md``, "Where the time goes").

:class:`JsonRoute` keeps the route exactly as FastAPI declares it (the OpenAPI document, the
dependencies, the error answers are FastAPI's) and adds a fast path for the requests where the
general machinery adds nothing:

* the endpoint is ``async def`` and takes exactly one pydantic model, either as its JSON body or
  as its query string (``Annotated[Model, Query()]``, fields without aliases or sequences),
  optionally the ``Request``, and otherwise only dependencies that need nothing but the request
  (``async def dep(request: Request)``, no ``yield``); it returns its response model, or a
  ``Response``, with FastAPI's default response class;
* the app has not turned the fast path off (``PLANNER_ROUTE_FAST_PATH=false`` sets
  ``app.state.route_fast_path``), none of those dependencies is overridden
  (``app.dependency_overrides``), FastAPI's telemetry is not recording the request (with
  OpenTelemetry configured, every request keeps FastAPI's spans for its dependencies, endpoint
  and serialisation), a body is non-empty and labelled JSON, and the model validates.

Then a body is parsed and validated in one pass by pydantic-core (``model_validate_json``); a
query string is gathered as FastAPI gathers a query model (each field's last value, the other
keys as extras) and validated in one call; the dependencies are awaited in declaration order,
and the answer is serialised by FastAPI's own ``serialize_response`` straight to JSON bytes.
Every other request, and every request whose input does not validate, goes to FastAPI's own
handler, so that error answers (their locations, messages and order) are FastAPI's, byte for
byte. ``tests/api/test_routing.py`` holds the two paths to the same answers.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Collection, Coroutine
from dataclasses import dataclass
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from fastapi import HTTPException, Request, Response, params
from fastapi import routing as fastapi_routing
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.telemetry import get_telemetry_data
from pydantic import BaseModel, ValidationError

from service.api.middleware import is_json_media_type

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
RequestDependency = Callable[[Request], Awaitable[Any]]
Source = Literal["body", "query"]


def _is_collection(annotation: Any) -> bool:
    """Whether a field's type is, or may be (in a union), a collection other than text:
    FastAPI reads those from repeated query keys, which this module does not repeat."""
    origin = get_origin(annotation)
    if origin is Union or origin is UnionType:
        return any(_is_collection(argument) for argument in get_args(annotation))
    kind = origin or annotation
    return (
        inspect.isclass(kind)
        and issubclass(kind, Collection)
        and not issubclass(kind, str | bytes | bytearray)
    )


# The parameters a dependant may not have for the fast path: anything FastAPI would have to
# extract from the request or inject besides the request itself.
_EXTRACTED = ("path_params", "query_params", "header_params", "cookie_params", "body_params")
_INJECTED = (
    "websocket_param_name",
    "http_connection_param_name",
    "response_param_name",
    "background_tasks_param_name",
    "security_scopes_param_name",
)


def _plain_coroutine(call: Callable[..., Any] | None) -> bool:
    return inspect.iscoroutinefunction(call) and not inspect.isasyncgenfunction(call)


def _request_only(dependant: Dependant) -> bool:
    """An ``async def`` dependency of the request alone, with no dependencies of its own."""
    return (
        _plain_coroutine(dependant.call)
        and dependant.request_param_name is not None
        and not dependant.dependencies
        and not dependant.own_oauth_scopes
        and not any(getattr(dependant, name) for name in _EXTRACTED)
        and not any(getattr(dependant, name) for name in _INJECTED)
    )


def _input_model(dependant: Dependant) -> tuple[str, type[BaseModel], Source] | None:
    """The endpoint's one input model, its parameter name and where it comes from."""
    body, query = dependant.body_params, dependant.query_params
    if len(body) + len(query) != 1:
        return None
    field = (body or query)[0]
    model = field.field_info.annotation
    if not (inspect.isclass(model) and issubclass(model, BaseModel)):
        return None
    if body:
        if isinstance(field.field_info, params.Form):
            return None  # form fields: FastAPI reads and closes the form
        return field.name, model, "body"
    if not isinstance(field.field_info, params.Query) or not all(
        info.alias is None and info.validation_alias is None and not _is_collection(info.annotation)
        for info in model.model_fields.values()
    ):
        return None  # FastAPI's alias and list handling are not repeated here
    return field.name, model, "query"


@dataclass(frozen=True)
class FastPath:
    """What the fast path needs of a route, worked out once when its handler is built."""

    call: Callable[..., Awaitable[Any]]
    input_name: str
    input_model: type[BaseModel]
    source: Source
    request_name: str | None
    dependencies: tuple[tuple[str | None, RequestDependency], ...]
    route: Any  # FastAPI's route, or its effective context inside an included router

    @classmethod
    def of(cls, route: Any) -> FastPath | None:
        """The fast path for ``route``, or ``None`` where FastAPI's handler must do the work."""
        dependant: Dependant = route.dependant
        if (
            not _plain_coroutine(dependant.call)
            or route.response_field is None
            or not isinstance(route.response_class, DefaultPlaceholder)
            or route.is_json_stream
            or route.is_sse_stream
            or route._embed_body_fields
            or dependant.path_params
            or dependant.header_params
            or dependant.cookie_params
            or any(getattr(dependant, name) for name in _INJECTED)
            or not all(_request_only(sub) for sub in dependant.dependencies)
        ):
            return None
        found = _input_model(dependant)
        if found is None:
            return None
        assert dependant.call is not None  # noqa: S101 - checked above
        return cls(
            call=dependant.call,
            input_name=found[0],
            input_model=found[1],
            source=found[2],
            request_name=dependant.request_param_name,
            dependencies=tuple((sub.name, sub.call) for sub in dependant.dependencies),  # type: ignore[misc]
            route=route,
        )

    def overridden(self) -> bool:
        """Whether a test or an integration replaced one of the dependencies."""
        provider = self.route.dependency_overrides_provider
        overrides: dict[Any, Any] | None = getattr(provider, "dependency_overrides", None)
        if not overrides:
            return False
        return any(call in overrides for _, call in self.dependencies)

    async def _body_model(self, request: Request) -> BaseModel | None:
        """The body validated in one pass; ``None`` where FastAPI's handler must answer."""
        content_type = request.headers.get("content-type")
        if content_type is None or not is_json_media_type(content_type):
            return None
        try:
            body = await request.body()
        except HTTPException:
            raise
        except Exception as error:  # as FastAPI's handler answers a failed read
            raise HTTPException(400, "There was an error parsing the body") from error
        if not body:
            return None  # FastAPI's 422 for a missing body
        try:
            return self.input_model.model_validate_json(body)
        except ValidationError:
            return None

    def _query_model(self, request: Request) -> BaseModel | None:
        """The query string as FastAPI reads a query model: each declared field's last value
        (Starlette's ``QueryParams.get``), every other key as an extra (one value, or the list
        of its repeated values), validated in one call; ``None`` where it does not validate."""
        query = request.query_params
        fields = self.input_model.model_fields
        values: dict[str, Any] = {}
        extras: dict[str, list[str]] = {}
        for key, value in query.multi_items():
            if key in fields:
                values[key] = value  # the last one wins, as with QueryParams.get
            else:
                extras.setdefault(key, []).append(value)
        for key, seen in extras.items():
            values[key] = seen[0] if len(seen) == 1 else seen
        try:
            return self.input_model.model_validate(values)
        except ValidationError:
            return None

    def handler(self, standard: Handler) -> Handler:
        """The route's handler: the fast path where it applies, else ``standard``."""
        route = self.route
        dependencies = self.dependencies
        from_body = self.source == "body"

        async def handle(request: Request) -> Response:
            if (
                not getattr(request.app.state, "route_fast_path", True)
                or self.overridden()
                or get_telemetry_data() is not None
            ):
                return await standard(request)
            model = await self._body_model(request) if from_body else self._query_model(request)
            if model is None:
                return await standard(request)
            values: dict[str, Any] = {self.input_name: model}
            if self.request_name is not None:
                values[self.request_name] = request
            for name, dependency in dependencies:
                value = await dependency(request)
                if name is not None:
                    values[name] = value
            answer = await self.call(**values)
            if isinstance(answer, Response):
                return answer
            content = await fastapi_routing.serialize_response(
                field=route.response_field,
                response_content=answer,
                include=route.response_model_include,
                exclude=route.response_model_exclude,
                by_alias=route.response_model_by_alias,
                exclude_unset=route.response_model_exclude_unset,
                exclude_defaults=route.response_model_exclude_defaults,
                exclude_none=route.response_model_exclude_none,
                dump_json=True,
            )
            if route.status_code is None:
                return Response(content, media_type="application/json")
            return Response(content, status_code=route.status_code, media_type="application/json")

        return handle


def _effective(route: fastapi_routing.APIRoute) -> Any:
    """The route as a request meets it: inside an included router FastAPI builds the handler
    for an effective copy that carries the router's and the app's dependencies too."""
    context = fastapi_routing._effective_route_context_var.get()
    if context is not None and context.original_route is route:
        return context
    return route


class JsonRoute(fastapi_routing.APIRoute):
    """An ``APIRoute`` with the fast path described in this module's docstring."""

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        fast_path = FastPath.of(_effective(self))
        return standard if fast_path is None else fast_path.handler(standard)
