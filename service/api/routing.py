"""A route class for the service's pure-computation endpoints: one JSON body in, one model out.

FastAPI's request handler is general: it decodes the body with ``json.loads``, validates the
resulting Python objects field by field through its dependency solver (which also introspects
every dependency on every request), then validates the endpoint's return value again before
serialising it. For an estimate that is most of the request's CPU: the service's memory
estimate spent 200 us per request in-process, of which its use-case and core were about 50
(``bench/README.md``, "Where the time goes").

:class:`JsonRoute` keeps the route exactly as FastAPI declares it (the OpenAPI document, the
dependencies, the error answers are FastAPI's) and adds a fast path for the requests where the
general machinery adds nothing:

* the endpoint is ``async def``, takes one pydantic model as its JSON body and otherwise only
  dependencies that need nothing but the request (``async def dep(request: Request)``, no
  ``yield``), and returns its response model with FastAPI's default response class;
* the request carries a non-empty body labelled JSON, none of those dependencies is overridden
  (``app.dependency_overrides``), and the body validates.

Then the body is parsed and validated in one pass by pydantic-core (``model_validate_json``),
the dependencies are awaited in declaration order, and the response is serialised by FastAPI's
own ``serialize_response`` straight to JSON bytes. Every other request, and every request whose
body does not validate, goes to FastAPI's own handler, so that error answers (their locations,
messages and order) are FastAPI's, byte for byte. ``tests/api/test_routing.py`` holds the two
paths to the same answers.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi import routing as fastapi_routing
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from pydantic import BaseModel, ValidationError

from service.api.middleware import is_json_media_type

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
RequestDependency = Callable[[Request], Awaitable[Any]]

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


@dataclass(frozen=True)
class FastPath:
    """What the fast path needs of a route, worked out once when its handler is built."""

    call: Callable[..., Awaitable[Any]]
    body_name: str
    body_model: type[BaseModel]
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
            or len(dependant.body_params) != 1
            or dependant.request_param_name is not None
            or any(getattr(dependant, name) for name in _EXTRACTED[:-1])
            or any(getattr(dependant, name) for name in _INJECTED)
            or not all(_request_only(sub) for sub in dependant.dependencies)
        ):
            return None
        body = dependant.body_params[0]
        model = body.field_info.annotation
        if not (inspect.isclass(model) and issubclass(model, BaseModel)):
            return None
        assert dependant.call is not None  # noqa: S101 - checked above
        return cls(
            call=dependant.call,
            body_name=body.name,
            body_model=model,
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

    def handler(self, standard: Handler) -> Handler:
        """The route's handler: the fast path where it applies, else ``standard``."""
        route = self.route
        model = self.body_model
        dependencies = self.dependencies

        async def handle(request: Request) -> Response:
            content_type = request.headers.get("content-type")
            if content_type is None or not is_json_media_type(content_type) or self.overridden():
                return await standard(request)
            try:
                body = await request.body()
            except HTTPException:
                raise
            except Exception as error:  # as FastAPI's handler answers a failed read
                raise HTTPException(400, "There was an error parsing the body") from error
            if not body:
                return await standard(request)  # FastAPI's 422 for a missing body
            try:
                values: dict[str, Any] = {self.body_name: model.model_validate_json(body)}
            except ValidationError:
                return await standard(request)  # FastAPI's own error answer
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
