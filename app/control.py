"""The repository endpoints, for operators and CI: list every version with its state, load and unload.

Served only with `SEQSERVE_MODEL_CONTROL=true`, behind the admin key (or the API key). A name and a
version are matched against what listing the repository found, never joined into a path. A request
reaches one worker: it writes the step to the server's control log (app.control_log), applies it here
and answers with this worker's listing; the other workers apply it within `CONTROL_TICK_S` plus the load.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from app import errors
from app.control_log import Action
from app.repository import NAME, VERSION, scan
from app.requests import check_key, parse_json, read_body
from app.routes import error_docs, json_response, service
from app.schemas import RepositoryResponse
from app.state import ServiceState

MAX_CONTROL_BODY = 1024


class ControlRequest(BaseModel):
    """Which version to load or unload; without one, every version of the name."""

    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(None, pattern=VERSION.pattern, description="a version as its manifest names it")


async def listing(request: Request) -> Response:
    state = checked(request)
    return json_response({"models": state.registry.listing()})


async def load(request: Request, name: str) -> Response:
    return await act(request, "load", name)


async def unload(request: Request, name: str) -> Response:
    return await act(request, "unload", name)


def checked(request: Request) -> ServiceState:
    state = service(request)
    check_key(request, state.settings.control_key())
    return state


async def act(request: Request, action: Action, name: str) -> Response:
    state = checked(request)
    body = await read_body(request, MAX_CONTROL_BODY)
    version = parse_json(body, ControlRequest).version if body.strip() else None
    await check_target(state, action, name, version)
    assert state.reloader is not None and state.reloader.control is not None
    await asyncio.to_thread(state.reloader.control.append, action, name, version)
    await state.reloader.apply_control()
    listed = state.registry.listing(name)
    refused = [entry for entry in listed if entry["state"] == "failed" and version in (None, entry["version"])]
    if action == "load" and refused:
        raise errors.ApiError(422, "bundle_refused", refused[0]["reason"], "version" if version else "name")
    return json_response({"models": listed})


async def check_target(state: ServiceState, action: Action, name: str, version: str | None) -> None:
    """404 unless the name (and version) is one the repository holds (to load) or that is loaded (to unload)."""
    allowed = state.settings.models
    if not NAME.match(name) or (allowed and name not in allowed):
        raise errors.ApiError(404, "not_found", f"no model '{name}' in the repository", "name")
    if action == "unload":
        versions = [bundle.version for bundle in state.registry.serving(name)]
    else:
        found = await asyncio.to_thread(scan, state.settings.model_dir, frozenset({name}))
        versions = [candidate.version for candidate in found.get(name, []) if candidate.version]
    if not versions:
        raise errors.ApiError(404, "not_found", f"no model '{name}' {'loaded' if action == 'unload' else 'in the repository'}",
                              "name")
    if version is not None and version not in versions:
        raise errors.ApiError(404, "not_found", f"model '{name}' has no version '{version}' "
                                                f"({'loaded' if action == 'unload' else 'in the repository'}: "
                                                f"{', '.join(versions)})", "version")


def register_control(app: FastAPI) -> None:
    docs: dict[str, Any] = {"response_model": RepositoryResponse, "responses": error_docs(401, 404, 422)}
    app.get("/repository", summary="Every bundle version in the repository, with its state", **docs)(listing)
    app.post("/repository/{name}/load", summary="Load a bundle's new versions, or one version", **docs)(load)
    app.post("/repository/{name}/unload", summary="Unload a bundle, or one of its versions", **docs)(unload)
