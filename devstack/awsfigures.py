"""The AWS figures docs/scale.md is computed with, each as the page cited beside it states it.

Owns these constants and their sources only; the product's own limits (chunk size, chunk-number
width, the largest object it takes) are imported from ``chalicelib`` where they are used, and the
deployed memory sizes and timeouts are read from ``.chalice/config.json`` by ``devstack.scale``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Constant:
    """An AWS figure, as the page at ``url`` states it."""

    value: float
    unit: str
    what: str
    url: str


_LAMBDA_QUOTAS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
_S3_PERFORMANCE = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html"
)
AWS: dict[str, Constant] = {
    "lambda_max_seconds": Constant(
        900, "s", "longest a Lambda invocation runs (15 minutes)", _LAMBDA_QUOTAS
    ),
    "lambda_mb_per_vcpu": Constant(
        1769,
        "MB",
        "memory at which a function has the equivalent of one vCPU; CPU is proportional to memory",
        "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html",
    ),
    "lambda_concurrency": Constant(
        1000, "executions", "default concurrent executions per account and Region", _LAMBDA_QUOTAS
    ),
    "s3_put_per_prefix": Constant(
        3500, "requests/s", "PUT/COPY/POST/DELETE per partitioned prefix", _S3_PERFORMANCE
    ),
    "s3_get_per_prefix": Constant(
        5500, "requests/s", "GET/HEAD per partitioned prefix", _S3_PERFORMANCE
    ),
    "redshift_copy_file_per_slice": Constant(
        1,
        "file",
        "files a slice loads at a time: COPY loads a manifest's files in parallel, one per slice",
        "https://docs.aws.amazon.com/redshift/latest/dg/t_splitting-data-files.html",
    ),
    "s3_small_request_ms": Constant(
        50,
        "ms",
        "one small S3 request (under 512 KB): median latencies 'often in the tens of "
        "milliseconds', taken here as 50 ms",
        "https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/"
        "timeouts-and-retries-for-latency-sensitive-applications.html",
    ),
    "data_api_max_seconds": Constant(
        24 * 3600,
        "s",
        "longest a Data API statement runs (24 hours; its Considerations page)",
        "https://docs.aws.amazon.com/redshift/latest/mgmt/data-api.html",
    ),
}
# Default slices per node, by RA3 node type (the node types table).
REDSHIFT_NODES_URL = "https://docs.aws.amazon.com/redshift/latest/mgmt/working-with-clusters.html"
REDSHIFT_SLICES: tuple[tuple[str, int], ...] = (
    ("ra3.xlplus", 2),
    ("ra3.4xlarge", 4),
    ("ra3.16xlarge", 16),
)
# The product's largest object (chalicelib.api.multipart_uploads.MAX_OBJECT_BYTES, 5 TiB) is S3's
# long-standing object limit; this page now also lists 48.8 TiB for 10,000 parts of 5 GiB.
S3_OBJECT_LIMITS_URL = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html"
