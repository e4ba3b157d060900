"""Which Bot API methods exist and which fields each takes, to check every request the bot makes.

The source of truth is Telegram's own method list (``api.json``, kept outside the project in
``../shared/telegram-bot-api/``) when it is on this machine; otherwise aiogram's method
models, which describe the same methods with the same required flags and ship with a
dependency we already have.
"""

from __future__ import annotations

import inspect
import json
import os
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPEC_ENV = "POINTSMALL_BOT_API_SPEC"
_SHARED_RELATIVE = Path("..") / "shared" / "telegram-bot-api" / "api.json"


@dataclass(frozen=True)
class MethodSpec:
    """One method: its canonical name and its fields (name -> required)."""

    name: str
    fields: Mapping[str, bool]
    # Field name -> how a form-encoded value decodes: int, int_or_str, bool, float, json, str.
    kinds: Mapping[str, str] = field(default_factory=dict)

    @property
    def required(self) -> frozenset[str]:
        return frozenset(name for name, required in self.fields.items() if required)


@dataclass(frozen=True)
class TypeSpec:
    """One object type: its fields (name -> (required, type names)), or the subtypes it unites."""

    fields: Mapping[str, tuple[bool, tuple[str, ...]]]
    subtypes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiSpec:
    """The methods a Bot API server knows, keyed by lower-cased name (Telegram ignores case)."""

    methods: Mapping[str, MethodSpec]
    source: str
    version: str = ""
    # Fields a source still knows but marks deprecated (aiogram keeps them), per method.
    deprecated: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Object types, only when read from api.json.
    types: Mapping[str, TypeSpec] | None = None

    @classmethod
    def load(cls, path: Path | str | None = None) -> ApiSpec:
        """Telegram's api.json when it can be found, else aiogram's method models."""
        found = Path(path) if path is not None else find_api_json()
        if found is not None and found.is_file():
            return cls.from_api_json(found)
        return cls.from_aiogram()

    @classmethod
    def from_api_json(cls, path: Path | str) -> ApiSpec:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        methods = {
            name.lower(): MethodSpec(
                name=name,
                fields={f["name"]: bool(f.get("required")) for f in method.get("fields", [])},
                kinds={
                    f["name"]: _kind_of_doc(f.get("types", [])) for f in method.get("fields", [])
                },
            )
            for name, method in data["methods"].items()
        }
        types = {
            name: TypeSpec(
                fields={
                    f["name"]: (bool(f.get("required")), tuple(f.get("types", [])))
                    for f in kind.get("fields", [])
                },
                subtypes=tuple(kind.get("subtypes", [])),
            )
            for name, kind in data["types"].items()
        }
        version = str(data.get("version", "")).removeprefix("Bot API ").strip()
        return cls(methods=methods, source=str(path), version=version, types=types)

    @classmethod
    def from_aiogram(cls) -> ApiSpec:
        import aiogram
        import aiogram.methods as aiogram_methods
        from aiogram.methods.base import TelegramMethod

        methods: dict[str, MethodSpec] = {}
        deprecated: dict[str, frozenset[str]] = {}
        for model in vars(aiogram_methods).values():
            if not (inspect.isclass(model) and issubclass(model, TelegramMethod)):
                continue
            name = getattr(model, "__api_method__", None)
            if not isinstance(name, str):
                continue
            fields = {
                info.alias or field_name: info.is_required()
                for field_name, info in model.model_fields.items()
            }
            kinds = {
                info.alias or field_name: _kind_of_annotation(info.annotation)
                for field_name, info in model.model_fields.items()
            }
            methods[name.lower()] = MethodSpec(name=name, fields=fields, kinds=kinds)
            deprecated[name.lower()] = frozenset(
                info.alias or field_name
                for field_name, info in model.model_fields.items()
                if isinstance(info.json_schema_extra, dict)
                and info.json_schema_extra.get("deprecated")
            )
        return cls(
            methods=methods,
            source="aiogram",
            version=str(aiogram.__api_version__),
            deprecated=deprecated,
        )

    def method(self, name: str) -> MethodSpec | None:
        return self.methods.get(name.lower())

    def check(self, method: str, params: Iterable[str]) -> list[str]:
        """Every way a request breaks the spec, each naming the method and the field."""
        spec = self.method(method)
        if spec is None:
            return [f"{method}: no such Bot API method"]
        given = set(params)
        problems = [
            f"{spec.name}: required field {field!r} is missing"
            for field in sorted(spec.required - given)
        ]
        problems += [
            f"{spec.name}: unknown field {field!r}" for field in sorted(given - set(spec.fields))
        ]
        return problems

    def decode(self, method: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Form-encoded values as the JSON a JSON body would have carried, for records."""
        spec = self.method(method)
        kinds = spec.kinds if spec is not None else {}
        return {name: _decode(kinds.get(name, "str"), value) for name, value in values.items()}

    def missing_in_object(self, type_name: str, value: Any, where: str = "") -> list[str]:
        """Required fields missing anywhere in an object the server returns (api.json only)."""
        if self.types is None:
            raise RuntimeError("object types are only known when read from api.json")
        label = where or type_name
        kind = self.types.get(type_name)
        if kind is None or not isinstance(value, dict):
            return []
        if kind.subtypes:
            # A union (MaybeInaccessibleMessage, MenuButton...): the closest subtype decides.
            return min(
                (self.missing_in_object(sub, value, label) for sub in kind.subtypes),
                key=len,
            )
        fields = kind.fields
        problems = [
            f"{label}: required field {name!r} is missing"
            for name, (required, _) in fields.items()
            if required and name not in value
        ]
        for name, item in value.items():
            if name not in fields:
                problems.append(f"{label}: field {name!r} is not in {type_name}")
                continue
            for type_ref in fields[name][1]:
                problems += self._missing_in_typed(type_ref, item, f"{label}.{name}")
        return problems

    def _missing_in_typed(self, type_ref: str, value: Any, where: str) -> list[str]:
        if type_ref.startswith("Array of "):
            if not isinstance(value, list):
                return []
            inner = type_ref.removeprefix("Array of ")
            found: list[str] = []
            for index, item in enumerate(value):
                found += self._missing_in_typed(inner, item, f"{where}[{index}]")
            return found
        assert self.types is not None
        if type_ref in self.types and isinstance(value, dict):
            return self.missing_in_object(type_ref, value, where)
        return []


def find_api_json() -> Path | None:
    """``$POINTSMALL_BOT_API_SPEC``, else ``../shared/telegram-bot-api/api.json`` from the repo."""
    configured = os.environ.get(SPEC_ENV)
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    repo_root = Path(__file__).resolve().parents[2]
    candidate = (repo_root / _SHARED_RELATIVE).resolve()
    return candidate if candidate.is_file() else None


def _kind_of_doc(types: Iterable[str]) -> str:
    names = set(types)
    if names & {"Integer"} and "String" in names:
        return "int_or_str"
    if names == {"Integer"}:
        return "int"
    if names == {"Boolean"}:
        return "bool"
    if names == {"Float"}:
        return "float"
    if names <= {"String", "InputFile"}:
        return "str"
    return "json"


def _kind_of_annotation(annotation: Any) -> str:
    from aiogram.client.default import Default

    args = set(typing.get_args(annotation)) or {annotation}
    args -= {type(None), Default}
    if args == {int, str}:
        return "int_or_str"
    if args == {bool}:
        return "bool"
    if args == {int}:
        return "int"
    if args == {float}:
        return "float"
    if args == {str} or str in args:
        return "str"
    return "json"


def _decode(kind: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if kind == "json":
            return json.loads(value)
        if kind in ("int", "int_or_str") and value.lstrip("-").isdigit():
            return int(value)
        if kind == "bool" and value in ("true", "false"):
            return value == "true"
        if kind == "float":
            return float(value)
    except ValueError:
        return value
    return value
