"""How a configuration problem is phrased: `key.path: what is wrong`, and nothing else.

msgspec reports a problem as a message with a JSON path (`... - at `$.risk.max_leverage``);
the operator wants the TOML key. Numbers are checked here too: TOML allows `nan` and `inf`,
and a string like "NaN" decodes into a `Decimal` field, but no setting may be either — an
infinite limit is no limit and NaN cannot even be compared.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

import msgspec

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_KEYED_MSG = re.compile(r"^(?P<key>[A-Za-z_][\w.\[\]]*): (?P<rest>.*)$", re.DOTALL)


def describe_validation_error(err: msgspec.ValidationError, prefix: str = "") -> str:
    """Turn msgspec's message into `key.path: problem`."""
    m = _AT.match(str(err))
    msg, path = (m.group("msg"), m.group("path") or "") if m else (str(err), "")
    parts = [path.lstrip(".")] if path else []  # `$.a.b[0].c` -> `a.b[0].c`
    if unknown := re.match(r"Object contains unknown field `(.+)`", msg):
        parts.append(unknown.group(1))
        msg = "unknown key (not a setting; check the spelling)"
    elif missing := re.match(r"Object missing required field `(.+)`", msg):
        parts.append(missing.group(1))
        msg = "missing required key"
    elif keyed := _KEYED_MSG.match(msg):
        parts.append(keyed.group("key"))
        msg = keyed.group("rest")
    else:
        msg = msg[0].lower() + msg[1:] if msg else msg
    key = ".".join(p for p in [prefix, *parts] if p)
    return f"{key}: {msg}" if key else msg


def non_finite_path(obj: Any, path: str = "", strings: bool = False) -> str | None:
    """The key path of the first NaN or infinite `Decimal` in a decoded config, if any; with
    `strings`, also of a string that would decode into one ("NaN", "-inf")."""
    if isinstance(obj, str) and strings:
        try:
            obj = Decimal(obj)
        except ArithmeticError:
            return None
    if isinstance(obj, Decimal):
        return None if obj.is_finite() else path
    if isinstance(obj, msgspec.Struct):
        items: Any = ((msgspec.structs.fields(obj)[i].encode_name, getattr(obj, f))
                      for i, f in enumerate(obj.__struct_fields__))
    elif isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list | tuple):
        return next((p for i, v in enumerate(obj)
                     if (p := non_finite_path(v, f"{path}[{i}]", strings)) is not None),
                    None)
    else:
        return None
    for key, value in items:
        found = non_finite_path(value, f"{path}.{key}" if path else str(key), strings)
        if found is not None:
            return found
    return None


# Checks for the structs' __post_init__: a ValueError phrased `key: problem`, which msgspec
# reports at the key's section and `describe_validation_error` turns into the full path.

def finite(name: str, value: Decimal | float) -> None:
    # First: NaN cannot even be compared, and an infinite limit or timeout is none at all.
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{name}: must be a finite number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number")


def positive(name: str, value: Decimal | float) -> None:
    finite(name, value)
    if value <= 0:
        raise ValueError(f"{name}: must be > 0")


def non_negative(name: str, value: Decimal | float) -> None:
    finite(name, value)
    if value < 0:
        raise ValueError(f"{name}: must be >= 0")
