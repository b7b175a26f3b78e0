"""The packaged stack deployed into the AWS emulator, as an operator deploys it into AWS.

Owns the deployment steps docs/deploy.md walks: the warehouse's secret in Secrets Manager, the
function bundle and the template uploaded to an artifacts bucket (what ``aws cloudformation
package`` does; a template this size must come from S3), the stack created with its parameters,
and the stage's API key read back. The warehouse is the local Redshift engine behind the Data
API stand-in, which announces finished statements on the emulator's EventBridge. The emulator
lends the functions three settings their template leaves unset: the stand-in's endpoint, no TLS
to the local engine (it speaks none), and no wait in the load function, so every load is
finished by the completion function on the statement's event.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.warehouse.settings import ENV_REDSHIFT_CLUSTER_ID
from deploy.stage import read_stage
from devstack.apifront import ApiFront
from devstack.emulator import ACCOUNT, REGION, Emulator
from devstack.redshift_local import CLUSTER_ID, DATABASE, USER, LocalRedshift

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]

STACK_TIMEOUT_S = 120.0
API_STAGE = "api"


@dataclass(frozen=True)
class Deployment:
    """What a user of the deployed stack needs, read from the stack and the API."""

    stack: str
    outputs: dict[str, str]
    api_key: str
    api_url: str
    create_seconds: float

    @property
    def bucket(self) -> str:
        return self.outputs["Bucket"]


@dataclass
class DeployedStack:
    """The emulator, the warehouse and the stack in it; ``start()`` then ``stop()``."""

    root: Path
    build: Path
    stage: str = "dev"
    port: int = 0
    api_port: int = 0
    emulator: Emulator | None = None
    front: ApiFront | None = None
    redshift: LocalRedshift | None = None
    deployment: Deployment | None = None
    timings: dict[str, float] = field(default_factory=dict)
    _secrets: frozenset[str] = frozenset()

    def start(self) -> DeployedStack:
        started = time.monotonic()
        self.redshift = LocalRedshift(s3=None).start()
        data_api = self.redshift.start_data_api(events=self._put_event, cluster_id=self._cluster)
        self.emulator = Emulator(
            self.root / "emulator",
            port=self.port,
            env={
                "AWS_ENDPOINT_URL_REDSHIFT_DATA": data_api.url,
                "INGEST_REDSHIFT_SSL": "false",
                "INGEST_REDSHIFT_DATA_WAIT_SECONDS": "0",
            },
        )
        try:
            self.emulator.start()
            self.timings["emulator_seconds"] = time.monotonic() - started
            self.redshift.use_s3(self.emulator.client("s3"))
            secret = self._secret()
            # The Data API takes that secret for the engine's user, as it would in AWS.
            self._admit(secret)
            deployment = deploy(self.emulator, self.build, self.stage, secret)
            self.front = ApiFront(
                self.emulator.url,
                deployment.outputs["RestAPIId"],
                self.emulator.certificate,
                self.api_port,
            ).start()
            # The root /api/v1/... paths follow, as the stack's EndpointURL is in AWS.
            self.deployment = replace(deployment, api_url=f"{self.front.url}/{API_STAGE}")
        except BaseException:
            self.stop()
            raise
        return self

    def restart_data_api(self, port: int) -> None:
        """The Data API stand-in back on ``port``, where the functions reach it (after an
        outage a test made by stopping it)."""
        assert self.redshift is not None
        if self.redshift.data_api is None:
            self.redshift.start_data_api(
                events=self._put_event,
                port=port,
                cluster_id=self._cluster,
                secret_arns=self._secrets,
            )

    @property
    def _cluster(self) -> str:
        """The cluster the stage's functions name (``.chalice/config.json``): the engine answers
        the Data API as that cluster, as the real one would."""
        config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
        env = read_stage(config, self.stage).env
        return env.get(ENV_REDSHIFT_CLUSTER_ID) or CLUSTER_ID

    def _admit(self, secret_arn: str) -> None:
        assert self.redshift is not None and self.redshift.data_api is not None
        self._secrets = self._secrets | {secret_arn}
        server = self.redshift.data_api
        server.identity = replace(server.identity, secret_arns=self._secrets)

    def _put_event(self, entry: dict[str, Any]) -> None:
        assert self.emulator is not None
        deliver_service_event(self.emulator, entry)

    def _secret(self) -> str:
        """The warehouse user's secret, in the shape of Secrets Manager's Redshift secrets."""
        assert self.emulator is not None and self.redshift is not None
        value = {
            "engine": "redshift",
            "host": "127.0.0.1",
            "port": self.redshift.port,
            "username": USER,
            "password": self.redshift.password,
            "dbname": DATABASE,
        }
        secrets = self.emulator.client("secretsmanager")
        name = f"csv-ingest/{self.stage}/redshift"
        return str(secrets.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])

    def stop(self) -> None:
        if self.front is not None:
            self.front.stop()
        if self.emulator is not None:
            self.emulator.stop()
        if self.redshift is not None:
            self.redshift.stop()

    def __enter__(self) -> DeployedStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def deliver_service_event(emulator: Emulator, entry: dict[str, Any]) -> list[str]:
    """Deliver an event an AWS service emits (``aws.*`` source) as EventBridge would: to the
    Lambda targets of every default-bus rule whose pattern matches it, invoked asynchronously
    with the event's envelope. EventBridge refuses ``aws.*`` sources from PutEvents, rightly, so
    the stand-in that plays the service delivers them; the matching is EventBridge's own
    (TestEventPattern on the deployed rules). Returns the functions invoked.
    """
    events, functions = emulator.client("events"), emulator.client("lambda")
    envelope = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": entry.get("Resources", []),
        "detail": json.loads(entry["Detail"]),
    }
    body = json.dumps(envelope)
    invoked = []
    for rule in events.list_rules(EventBusName="default").get("Rules", []):
        pattern = rule.get("EventPattern")
        if not pattern or not events.test_event_pattern(EventPattern=pattern, Event=body)["Result"]:
            continue
        for target in events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", []):
            if ":lambda:" in target["Arn"]:
                functions.invoke(FunctionName=target["Arn"], InvocationType="Event", Payload=body)
                invoked.append(target["Arn"])
    return invoked


def deploy(emulator: Emulator, build: Path, stage: str, secret_arn: str) -> Deployment:
    """Upload the bundle and template, create the stack and wait for it (docs/deploy.md).

    Raises:
        RuntimeError: the stack did not reach CREATE_COMPLETE.
    """
    s3, cfn = emulator.client("s3"), emulator.client("cloudformation")
    template = json.loads((build / "template.json").read_text(encoding="utf-8"))
    stack = f"csv-ingest-{stage}"
    artifacts = f"{stack}-artifacts"
    s3.create_bucket(Bucket=artifacts)
    s3.upload_file(str(build / "deployment.zip"), artifacts, "deployment.zip")
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{artifacts}/deployment.zip"
    s3.put_object(Bucket=artifacts, Key="template.json", Body=json.dumps(template).encode())
    started = time.monotonic()
    cfn.create_stack(
        StackName=stack,
        TemplateURL=f"{emulator.url}/{artifacts}/template.json",
        Parameters=[{"ParameterKey": "RedshiftSecretArn", "ParameterValue": secret_arn}],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    described = _wait(cfn, stack)
    seconds = time.monotonic() - started
    if described["StackStatus"] != "CREATE_COMPLETE":
        failed = [
            f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
            for e in cfn.describe_stack_events(StackName=stack)["StackEvents"]
            if e["ResourceStatus"].endswith("FAILED")
        ]
        raise RuntimeError(f"stack {stack} is {described['StackStatus']}: {failed[:5]}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    key = emulator.client("apigateway").get_api_key(apiKey=outputs["ApiKeyId"], includeValue=True)[
        "value"
    ]
    return Deployment(stack, outputs, key, "", seconds)


def _wait(cfn: Any, stack: str) -> dict[str, Any]:
    deadline = time.monotonic() + STACK_TIMEOUT_S
    while True:
        described: dict[str, Any] = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        if not described["StackStatus"].endswith("IN_PROGRESS"):
            return described
        if time.monotonic() > deadline:
            raise RuntimeError(f"stack {stack} still {described['StackStatus']}")
        time.sleep(0.1)


def add_api_key(emulator: Emulator, deployment: Deployment, value: str) -> str:
    """A second key with ``value`` in the stage's usage plan, as an operator adds one for a
    client (API Gateway never changes a key's value); returns it."""
    gateway = emulator.client("apigateway")
    plan = emulator.client("cloudformation").describe_stack_resource(
        StackName=deployment.stack, LogicalResourceId="UsagePlan"
    )["StackResourceDetail"]["PhysicalResourceId"]
    key = gateway.create_api_key(name=f"{deployment.stack}-local", value=value, enabled=True)
    gateway.create_usage_plan_key(usagePlanId=plan, keyId=key["id"], keyType="API_KEY")
    return value
