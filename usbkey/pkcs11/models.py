"""USB key (PKCS#11 token) models and the module each needs: the old guide's "choose the CSP".

Choosing another model's module is the most common mistake, so the page shows this table and
its script puts the chosen module into the ``certdesk token enroll`` command it displays. The
table itself is data, ``models.toml`` beside this module (shipped with the holder's client).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from importlib.resources import files
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenModel:
    id: str
    name: str
    driver: str
    linux: str
    windows: str
    macos: str


_FIELDS = frozenset(field.name for field in fields(TokenModel))


def parse_models(text: str, *, source: str = "models.toml") -> tuple[TokenModel, ...]:
    """The ``[[model]]`` tables of ``text``, in order; a missing, extra or non-string field,
    or a repeated id, is a ``ValueError`` that names the model and the field."""
    tables = tomllib.loads(text).get("model")
    if not isinstance(tables, list) or not tables:
        raise ValueError(f"{source}: no [[model]] table")
    models = [
        _model(table, where=f"{source}: model {number}")
        for number, table in enumerate(tables, start=1)
    ]
    ids = [model.id for model in models]
    if repeated := sorted({one for one in ids if ids.count(one) > 1}):
        raise ValueError(f"{source}: model id {', '.join(repeated)} given more than once")
    return tuple(models)


def _model(table: dict[str, Any], *, where: str) -> TokenModel:
    if missing := sorted(_FIELDS - table.keys()):
        raise ValueError(f"{where} lacks {', '.join(missing)}")
    if extra := sorted(table.keys() - _FIELDS):
        raise ValueError(f"{where} has unknown field {', '.join(extra)}")
    if wrong := sorted(name for name, value in table.items() if not isinstance(value, str)):
        raise ValueError(f"{where}: {', '.join(wrong)} must be a string")
    return TokenModel(**table)


TOKEN_MODELS: tuple[TokenModel, ...] = parse_models(
    files("usbkey.pkcs11").joinpath("models.toml").read_text("utf-8")
)
