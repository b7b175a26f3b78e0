"""Typed values from environment variables, each bad one named in its error."""

from __future__ import annotations

import pytest

from chalicelib import envvars
from chalicelib.errors import ConfigError


@pytest.mark.parametrize(("raw", "value"), [(None, 7), ("", 7), ("3", 3), ("0", 0)])
def test_envvars_integer(raw: str | None, value: int) -> None:
    env = {} if raw is None else {"N": raw}
    assert envvars.integer(env, "N", 7, minimum=0) == value


@pytest.mark.parametrize(("raw", "message"), [("x", "integer"), ("-1", ">= 0"), ("1.5", "integer")])
def test_envvars_integer_refuses(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        envvars.integer({"N": raw}, "N", 7, minimum=0)
    assert "N" in caught.value.message


@pytest.mark.parametrize(("raw", "value"), [(None, None), ("", None), ("1.5", 1.5), ("30", 30.0)])
def test_envvars_seconds(raw: str | None, value: float | None) -> None:
    env = {} if raw is None else {"S": raw}
    assert envvars.seconds(env, "S") == value


@pytest.mark.parametrize("raw", ["0", "-1", "inf", "nan", "soon"])
def test_envvars_seconds_refuses(raw: str) -> None:
    with pytest.raises(ConfigError, match="S must be"):
        envvars.seconds({"S": raw}, "S")


@pytest.mark.parametrize(
    ("raw", "value"), [(None, True), ("", True), ("false", False), ("TRUE", True)]
)
def test_envvars_flag(raw: str | None, value: bool) -> None:
    env = {} if raw is None else {"F": raw}
    assert envvars.flag(env, "F", default=True) is value


def test_envvars_flag_refuses_anything_else() -> None:
    with pytest.raises(ConfigError, match="'true' or 'false'"):
        envvars.flag({"F": "yes"}, "F", default=True)
