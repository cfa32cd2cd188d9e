"""Reading a YAML study file into a pydantic model, with one-line errors.

:func:`load_yaml_model` is how every ``studies/*.yaml`` kind (sweeps, ablations) is read:
an unreadable file, a YAML syntax error (with its line), a top level that is not a
mapping and the first validation error each become one line that names the file, the key
and the allowed values or keys.
"""

from __future__ import annotations

import typing
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from onnx_frontend.errors import PimtuneError


def load_yaml_model(path: str | Path, model: type[BaseModel], error: type[PimtuneError], what: str):
    """``model`` validated from the YAML file ``path``; ``error`` (one line) otherwise.
    ``what`` names the kind of file in messages (e.g. "sweep file")."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark else ""
        raise error(f"{path}:{where} not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping with keys {', '.join(model.model_fields)}, "
                    f"got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        deepest = max(exc.errors(), key=lambda e: len(e["loc"]))      # a union's matching branch
        raise error(f"{path}: {describe(deepest, model)}") from None


def describe(err: dict, model: type[BaseModel]) -> str:
    """One pydantic validation error of ``model`` as ``key 'a.b[0]': problem; allowed values``."""
    key = ""
    for part in err["loc"]:
        if isinstance(part, str) and part[:1].isupper():               # a union member's tag
            continue
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    if err["type"] == "extra_forbidden":
        fields = _model_at(model, err["loc"][:-1]).model_fields
        return f"unknown key {key!r}; allowed keys: {', '.join(fields)}"
    if err["type"] == "missing":
        return f"key {key!r} is missing; add it"
    value = err.get("input")
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "literal_error":
        allowed = err["ctx"]["expected"].replace("'", "").replace(" or ", ", ")
        return f"key {key!r}: {value!r} is not allowed; choose from {allowed}"
    if err["type"] == "string_pattern_mismatch":
        return f"key {key!r}: {value!r} is not a valid name; use letters, digits, '_', '.' and '-'"
    return f"key {key!r}: {msg} (got {value!r})"


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel]:
    """The (nested) model whose fields a location's last key belongs to."""
    for part in loc:
        if isinstance(part, str) and part in model.model_fields:
            nested = _models_in(model.model_fields[part].annotation)
            if nested:
                model = nested[0]
        elif isinstance(part, str):                 # a union member's tag, e.g. "Effort"
            model = next((m for m in _models_in(model) if m.__name__ == part), model)
    return model


def _models_in(annotation) -> list[type[BaseModel]]:
    """The pydantic models inside a type annotation (list[X], X | None, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
