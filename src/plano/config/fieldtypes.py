"""What every config model shares: the strict, frozen base model and the value types its fields use
(durations, ports, addresses, URLs, frozen maps)."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, NoReturn, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


class StrictModel(BaseModel):
    """Base of every config model: frozen, and unknown keys are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def parse_duration(value: object) -> float:
    """Seconds from an Envoy-style duration: ``"30s"``, ``"0.005s"``, ``"500ms"``, ``"2m"``.

    A bare number (YAML int/float or numeric string) means seconds. Negative values are refused.
    """
    if isinstance(value, bool):
        raise ValueError("a duration must be a number with a unit, like '30s' or '500ms'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(
                f"'{value}' is not a duration; write a number with a unit: ms, s, m or h"
                " (like '30s' or '500ms')"
            )
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError("a duration must be a string like '30s' or a number of seconds")
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ValueError("a duration must be a finite, non-negative amount of time")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]

# 0 means "any free port" (tests bind to it); otherwise the usual TCP range.
Port = Annotated[int, Field(ge=0, le=65535)]


def is_hostname(text: str) -> bool:
    if not text or len(text) > 253:
        return False
    return all(_HOST_LABEL.match(label) for label in text.rstrip(".").split("."))


def check_address(value: str) -> str:
    """An IP address (v4 or v6) or a DNS host name."""
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        if not is_hostname(value):
            raise ValueError(f"'{value}' is not an IP address or host name") from None
    return value


Address = Annotated[str, AfterValidator(check_address)]


def shown_url(value: str) -> str:
    """``value`` fit for a message: any ``user:password@`` part is masked."""
    scheme, sep, rest = value.partition("://")
    netloc, slash, path = rest.partition("/")
    if sep and "@" in netloc:
        return f"{scheme}://***@{netloc.rpartition('@')[2]}{slash}{path}"
    return value


def check_http_url(value: str) -> str:
    """``scheme://host[:port][/path]`` with scheme http or https."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"'{shown_url(value)}' must start with http:// or https://")
    try:
        host = parts.hostname
        _ = parts.port
    except ValueError:
        raise ValueError(f"'{shown_url(value)}' has an invalid port") from None
    if not host:
        raise ValueError(f"'{shown_url(value)}' has no host name")
    return value


HttpUrl = Annotated[str, AfterValidator(check_http_url)]

K = TypeVar("K")
V = TypeVar("V")


class FrozenDict(dict[K, V]):
    """A dict that refuses changes after construction (serializes like a plain dict)."""

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("config mappings are read-only")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"

    def __reduce__(self) -> tuple[type[FrozenDict[K, V]], tuple[dict[K, V]]]:
        return (type(self), (dict(self),))


def freeze_mapping(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return FrozenDict(value)


StrMap = Annotated[Mapping[str, str], AfterValidator(freeze_mapping)]
