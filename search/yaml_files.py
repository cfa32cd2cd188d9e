"""Reading a YAML study file into a pydantic model, with one-line errors.

:func:`load_yaml_model` is how every ``studies/*.yaml`` kind (sweeps, ablations) is read:
an unreadable file, a YAML syntax error (with its line), a top level that is not a
mapping and the first validation error each become one line that names the file, the key
and the allowed values or keys.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from onnx_frontend.errors import PimtuneError
from onnx_frontend.schema_errors import describe, first_error
from onnx_frontend.text_files import read_text


def load_yaml_model(path: str | Path, model: type[BaseModel], error: type[PimtuneError], what: str):
    """``model`` validated from the YAML file ``path``; ``error`` (one line) otherwise.
    ``what`` names the kind of file in messages (e.g. "sweep file")."""
    path = Path(path)
    text = read_text(path, error, what)
    try:
        data = yaml.safe_load(text)
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
        raise error(f"{path}: {describe(first_error(exc), model)}") from None
