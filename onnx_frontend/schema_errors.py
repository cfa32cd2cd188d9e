"""Pydantic validation errors as one line each, for every file kind users write.

:func:`first_error` picks the error to report (the deepest, a union's matching branch; among
those an unknown key first, as a typo explains the "missing" error it causes) and
:func:`describe` words it as ``key 'a.b[0]': problem; allowed values``.
"""

from __future__ import annotations

import typing

from pydantic import BaseModel, ValidationError


def first_error(exc: ValidationError) -> dict:
    """The one error of ``exc`` worth reporting (see the module docstring)."""
    errors = exc.errors()
    depth = max(len(e["loc"]) for e in errors)
    deepest = [e for e in errors if len(e["loc"]) == depth]
    return next((e for e in deepest if e["type"] == "extra_forbidden"), deepest[0])


def describe(err: dict, model: type[BaseModel]) -> str:
    """One pydantic validation error of ``model`` as ``key 'a.b[0]': problem; allowed values``."""
    key = ""
    for part in err["loc"]:
        if isinstance(part, str) and part[:1].isupper():               # a union member's tag
            continue
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    if err["type"] == "extra_forbidden":
        fields = _model_at(model, err["loc"][:-1]).model_fields
        return f"unknown key {key!r}; allowed keys: {', '.join(f.alias or n for n, f in fields.items())}"
    if err["type"] == "missing":
        return f"key {key!r} is missing; add it"
    value = err.get("input")
    msg = err["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    if not key:                                                      # a rule across keys
        return msg
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
