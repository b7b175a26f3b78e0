"""One Chalice stage as the template needs it: names, function timeouts and operating settings.

Owns reading ``.chalice/config.json``: the stage's environment variables (queue prefix, warehouse
choice), its function timeouts and its ``deploy_settings`` block, the knobs of what ``deploy/``
generates (retention periods, redelivery, concurrency cap, encryption key, alarm e-mail, which
functions run in a VPC), each with the default documented in docs/deploy.md. Nothing here names
an account, a region or a resource another deployment could own: those come from the template's
pseudo parameters and parameters (``parameters.py``). Generates nothing itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

from chalicelib.pipeline.triggers import STAGE_TRIGGERS, dead_letter_queue_name, queue_name

API_FUNCTION = "api_handler"
# The scheduled sweep that logs uploads stuck in processing (chalicelib/pipeline/stuck.py).
SWEEP_FUNCTION = "check_stuck_uploads"
# Finishes a Redshift Data API load when its batch ends (an EventBridge rule, docs/data-api.md).
STATEMENT_FUNCTION = "on_load_statement_changed"
# Invoked asynchronously (a schedule, an EventBridge rule): failures go to the failed-events queue.
ASYNC_FUNCTIONS = (SWEEP_FUNCTION, STATEMENT_FUNCTION)
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)
# SQS: a visibility timeout of at most 12 hours; Lambda's SQS scaling cap is 2-1000.
MAX_VISIBILITY = 43_200
# Set by the template from its own resources and parameters, never in .chalice/config.json.
TEMPLATE_VARIABLES = (
    "INGEST_BUCKET",
    "INGEST_REDSHIFT_IAM_ROLE",
    "INGEST_REDSHIFT_SECRET_ARN",
    "INGEST_REDSHIFT_HOST",
    "INGEST_API_KEY_ID",
)
_KMS_KEY = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]{36}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class DeploySettings:
    """``deploy_settings`` of a stage; every field may be left out for its default."""

    # Deliveries of one S3 event before its stage queue moves it to the dead-letter queue.
    max_receive_count: int = 5
    # Most validate (chunk) functions one upload's fan-out may run at once.
    validate_max_concurrency: int = 10
    # Days until chunk copies, cleaned chunks, manifests and load triggers expire.
    work_files_days: int = 7
    # Days until rejected-row files (they hold the rejected rows, names included) expire.
    rejected_days: int = 30
    # Days until uploaded files under raw/ expire; null keeps them.
    raw_days: int | None = None
    # Days after which an unfinished multipart upload is aborted (its parts deleted).
    incomplete_multipart_days: int = 1
    # Days an overwritten or deleted version is kept before it is removed.
    noncurrent_version_days: int = 7
    log_retention_days: int = 30
    # Minutes the oldest message of a stage queue may wait before the stalled alarm fires.
    stalled_minutes: int = 30
    # Customer-managed KMS key for the bucket (SSE-KMS); null uses SSE-S3.
    kms_key_arn: str | None = None
    # Address the alarm topic mails (a subscription to confirm); null: the AlarmEmail parameter.
    alarm_email: str | None = None
    # Functions that run in the VPC given by the SubnetIds and SecurityGroupIds parameters.
    vpc_functions: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: dict[str, Any], stage: str) -> DeploySettings:
        """Settings from a stage's ``deploy_settings`` block.

        Raises:
            SystemExit: an unknown setting or a value out of range.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise SystemExit(f"stage {stage!r}: unknown deploy_settings {', '.join(unknown)}")
        given = dict(raw)
        if "vpc_functions" in given:
            given["vpc_functions"] = tuple(given["vpc_functions"])
        settings = cls(**given)
        problems = settings._problems()
        if problems:
            raise SystemExit(f"stage {stage!r} deploy_settings: {'; '.join(problems)}")
        return settings

    def _problems(self) -> list[str]:
        found = []
        for name in (
            "max_receive_count",
            "work_files_days",
            "rejected_days",
            "incomplete_multipart_days",
            "noncurrent_version_days",
            "stalled_minutes",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                found.append(f"{name} must be a whole number >= 1, got {value!r}")
        if self.raw_days is not None and (not isinstance(self.raw_days, int) or self.raw_days < 1):
            found.append(f"raw_days must be null or a whole number >= 1, got {self.raw_days!r}")
        if not 2 <= self.validate_max_concurrency <= 1000:  # Lambda's ScalingConfig range
            found.append("validate_max_concurrency must be from 2 to 1000")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            found.append(f"log_retention_days must be one of {LOG_RETENTION_DAYS}")
        if self.kms_key_arn is not None and not _KMS_KEY.match(self.kms_key_arn):
            found.append(f"kms_key_arn must be a KMS key ARN, got {self.kms_key_arn!r}")
        if self.alarm_email is not None and not _EMAIL.match(self.alarm_email):
            found.append(f"alarm_email must be an e-mail address, got {self.alarm_email!r}")
        unknown = sorted(set(self.vpc_functions) - set(HANDLERS))
        if unknown:
            found.append(f"vpc_functions names no function: {', '.join(unknown)}")
        return found


HANDLERS = (API_FUNCTION, *(t.handler for t in STAGE_TRIGGERS), SWEEP_FUNCTION, STATEMENT_FUNCTION)


def logical_id(handler: str) -> str:
    """The template's logical id of ``handler``'s function, as ``chalice package`` names it."""
    return "APIHandler" if handler == API_FUNCTION else handler.title().replace("_", "")


@dataclass(frozen=True)
class Stage:
    """What the template needs to know about one Chalice stage."""

    app: str
    name: str
    queue_prefix: str
    env: dict[str, str] = field(default_factory=dict)
    timeouts: dict[str, int] = field(default_factory=dict)
    settings: DeploySettings = field(default_factory=DeploySettings)

    @property
    def prefix(self) -> str:
        return f"{self.app}-{self.name}"

    @property
    def auth(self) -> str:
        return self.env.get("INGEST_REDSHIFT_AUTH", "password")

    @property
    def uses_data_api(self) -> bool:
        return self.env.get("INGEST_REDSHIFT_API") == "data"

    def function_name(self, handler: str) -> str:
        """The Lambda function's name (the API's is the bare prefix, as Chalice names it)."""
        return self.prefix if handler == API_FUNCTION else f"{self.prefix}-{handler}"

    @property
    def handlers(self) -> list[str]:
        return list(HANDLERS)

    def queue(self, stage: str) -> str:
        return queue_name(self.queue_prefix, stage)

    def dead_letter_queue(self, stage: str) -> str:
        return dead_letter_queue_name(self.queue_prefix, stage)

    @property
    def failed_events_queue(self) -> str:
        """Where the asynchronously invoked functions' failed events go."""
        return f"{self.queue_prefix}-failed-events"

    def visibility_timeout(self, handler: str) -> int:
        """Six times the function's timeout, as AWS advises for an SQS event source."""
        return min(6 * self.timeouts.get(handler, 60), MAX_VISIBILITY)


def read_stage(config: dict[str, Any], name: str) -> Stage:
    """The stage's names, timeouts and deploy settings, from ``.chalice/config.json``.

    Raises:
        SystemExit: the stage or one of its settings is missing or malformed.
    """
    stage = config.get("stages", {}).get(name)
    if stage is None:
        raise SystemExit(f"no stage {name!r} in .chalice/config.json")
    env = {**config.get("environment_variables", {}), **stage.get("environment_variables", {})}
    queue_prefix = env.get("INGEST_QUEUE_PREFIX", "")
    if not queue_prefix:
        raise SystemExit(f"stage {name!r} needs INGEST_QUEUE_PREFIX")
    owned = sorted(set(env) & set(TEMPLATE_VARIABLES))
    if owned:
        raise SystemExit(
            f"stage {name!r}: {', '.join(owned)} come from the template (its resources and "
            "parameters), not from .chalice/config.json"
        )
    default_timeout = int(stage.get("lambda_timeout", config.get("lambda_timeout", 60)))
    functions = stage.get("lambda_functions", {})
    timeouts = {
        handler: int(functions.get(handler, {}).get("lambda_timeout", default_timeout))
        for handler in HANDLERS
    }
    return Stage(
        app=config["app_name"],
        name=name,
        queue_prefix=queue_prefix,
        env=env,
        timeouts=timeouts,
        settings=DeploySettings.parse(stage.get("deploy_settings", {}), name),
    )
