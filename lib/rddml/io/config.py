"""Job configuration: frozen dataclasses loaded from TOML and validated.

A job declares its settings as a frozen dataclass whose fields carry their
constraints in ``metadata`` (``min``, ``max``, ``choices``, ``nonempty`` for a string
that may not be '', ``allow_inf`` for a float that may be infinite, ``help``, and
``path`` for a file-system path: ``"input"`` (read), ``"output"`` (written) or
``"state"`` (read and written, such as a checkpoint directory)). A path's leading ``~``
or ``~user`` is expanded as a shell would (an unknown user is an error). Floats
are finite unless ``allow_inf`` says otherwise; NaN is never accepted. The loader
reads ``conf/jobs/<job>.toml``, applies ``--set key=value`` overrides and rejects
an unknown key, a wrong type or an out-of-range value with a message naming the
file, the key, the expected form and the value received.

Examples
--------
>>> from dataclasses import dataclass, field
>>> @dataclass(frozen=True)
... class Demo:
...     k: int = field(default=5, metadata={"min": 1})
>>> load_config(Demo, None, ["k=3"]).k
3
>>> load_config(Demo, None, ["k=0"])
Traceback (most recent call last):
...
rddml.errors.ConfigError: --set: key 'k': expected an int >= 1, got 0
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from rddml.errors import ConfigError
from rddml.paths import expand_user

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

C = TypeVar("C")
#: The values of a field's ``path`` metadata.
PATH_ROLES = ("input", "output", "state")


def _parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"--set: expected key=value, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word is a string: --set input=data/x.csv
    return key, value


def _describe(tp: Any, meta: typing.Mapping[str, Any]) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " or ".join(_describe(a, meta) for a in inner) + " or omitted (none)"
    if "choices" in meta:
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    if origin is list:
        return f"a list of {_describe(args[0], {})}" if args else "a list"
    finite = "a number" if meta.get("allow_inf") else "a finite number"
    text = "a non-empty string" if meta.get("nonempty") else "a string"
    name = {int: "an int", float: finite, str: text, bool: "true or false"}.get(tp, str(tp))
    bounds = []
    if "min" in meta:
        bounds.append(f">= {meta['min']}")
    if "max" in meta:
        bounds.append(f"<= {meta['max']}")
    return name + (" " + " and ".join(bounds) if bounds else "")


def _coerce(tp: Any, value: Any, meta: typing.Mapping[str, Any]) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "")):
            return type(None) in args, None
        for arg in args:
            if arg is type(None):
                continue
            ok, out = _coerce(arg, value, meta)
            if ok:
                return True, out
        return False, value
    if origin is list:
        if not isinstance(value, list):
            return False, value
        out = []
        for item in value:
            ok, conv = _coerce(args[0], item, {}) if args else (True, item)
            if not ok:
                return False, value
            out.append(conv)
        return True, out
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
        # nan slips through every bound (all comparisons are False); inf through a min.
        if ok and (math.isnan(value) or (math.isinf(value) and not meta.get("allow_inf"))):
            return False, value
    elif tp is str:
        ok = isinstance(value, str) and not (meta.get("nonempty") and not value.strip())
    else:
        return True, value
    if not ok:
        return False, value
    if "choices" in meta and value not in meta["choices"]:
        return False, value
    if "min" in meta and value < meta["min"]:
        return False, value
    if "max" in meta and value > meta["max"]:
        return False, value
    return True, value


def load_config(
    cls: type[C],
    path: str | os.PathLike[str] | None,
    overrides: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> C:
    """Build ``cls`` from the TOML file ``path``, then ``overrides`` (``key=value``), then
    ``extra`` (already-typed values, e.g. from command-line flags)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"{file}: config file not found")
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{file}: not a TOML text file: byte {exc.object[exc.start]:#04x} at offset "
                f"{exc.start} is not UTF-8 (a binary file?)"
            ) from exc
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read the config file: {exc}") from exc
        try:
            loaded = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
        for key, value in loaded.items():
            values[key] = value
            sources[key] = str(file)
    for text in overrides or []:
        key, value = _parse_override(text)
        values[key] = value
        sources[key] = "--set"
    for key, value in (extra or {}).items():
        values[key] = value
        sources[key] = "command line"
    checked: dict[str, Any] = {}
    for key, value in values.items():
        where = sources[key]
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{where}: unknown key {key!r}; the known keys are: {known}")
        meta = fields[key].metadata
        ok, out = _coerce(hints[key], value, meta)
        if not ok:
            raise ConfigError(
                f"{where}: key {key!r}: expected {_describe(hints[key], meta)}, got {value!r}"
            )
        if meta.get("path") and isinstance(out, str) and out:
            out = expand_user(out, what=f"{where}: path", key=key, error=ConfigError)
        checked[key] = out
    missing = [
        name for name, f in fields.items()
        if name not in checked
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{path or '--set'}: missing required key(s) {missing}")
    return cls(**checked)


def describe_config(cls: type[Any]) -> list[str]:
    """One line per key: name, expected form, default and help (for ``--help``)."""
    hints = typing.get_type_hints(cls)
    lines = []
    for f in dataclasses.fields(cls):
        default = "" if f.default is dataclasses.MISSING else f" (default {f.default!r})"
        helptext = f.metadata.get("help", "")
        lines.append(f"  {f.name}: {_describe(hints[f.name], f.metadata)}{default}  {helptext}")
    return lines


def path_keys(config: Any, *roles: str) -> dict[str, str]:
    """The path keys of a job config (a dataclass instance) whose ``path`` metadata is
    one of ``roles``, with their values ('' when unset).

    Examples
    --------
    >>> from dataclasses import dataclass, field
    >>> @dataclass(frozen=True)
    ... class Demo:
    ...     input: str = field(default="a.csv", metadata={"path": "input"})
    ...     output_dir: str = field(default="out", metadata={"path": "output"})
    >>> path_keys(Demo(), "input", "state")
    {'input': 'a.csv'}
    """
    unknown = set(roles) - set(PATH_ROLES)
    if unknown:
        raise ValueError(f"unknown path role(s) {sorted(unknown)}; expected {PATH_ROLES}")
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
            if f.metadata.get("path") in roles}
