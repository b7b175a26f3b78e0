"""The stage's API key as API Gateway holds it, for the one route that checks a key itself.

API Gateway checks the key on every route that requires one. The health route is public (a
load balancer or a person may probe it without a key), so API Gateway checks nothing there, and
its deep check, which reaches the warehouse, compares the caller's key with the stage's own:
read from API Gateway by its id (``INGEST_API_KEY_ID``, set by the deployed template), so the key
lives in one place and no copy of it sits in the function's settings. Owns that read only.
"""

from __future__ import annotations

from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import ConfigError


class ApiGatewayClient(Protocol):
    """The call of boto3's ``apigateway`` client this module makes."""

    def get_api_key(self, **kwargs: Any) -> Any: ...


def stage_key(client: ApiGatewayClient, key_id: str) -> str:
    """The value of API key ``key_id`` (GetApiKey with includeValue; never logged).

    Raises:
        ConfigError: the key cannot be read (missing, or the role may not read it).
    """
    try:
        value = client.get_api_key(apiKey=key_id, includeValue=True).get("value")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "?")
        raise ConfigError(f"cannot read API key {key_id}: {code}") from None
    except BotoCoreError as exc:
        raise ConfigError(f"cannot read API key {key_id}: {type(exc).__name__}") from None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"API key {key_id} has no value")
    return value
