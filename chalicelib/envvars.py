"""Reading typed values from environment variables, with an error that names the variable.

The settings classes (``config.Settings``, ``warehouse.settings.RedshiftSettings``) parse their
variables with these, so a bad value fails the same way, at cold start, whichever it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping


def integer(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    """The integer in ``name``, or ``default`` when it is unset or empty.

    Raises:
        ConfigError: not an integer, or below ``minimum``.
    """
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def seconds(env: Mapping[str, str], name: str) -> float | None:
    """The positive number of seconds in ``name``, or None when it is unset or empty.

    Raises:
        ConfigError: not a positive, finite number.
    """
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    """``true`` or ``false`` in ``name`` (any case), or ``default`` when it is unset or empty.

    Raises:
        ConfigError: anything else.
    """
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise ConfigError(f"{name} must be 'true' or 'false', got {raw!r}")
    return raw == "true"
