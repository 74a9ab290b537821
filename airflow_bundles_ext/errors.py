"""Exceptions raised by airflow-bundles-ext: one tree, drawn here, and nowhere else.

Every error this package raises derives from :class:`BundlesExtError`. Foreign exceptions
(botocore, subprocess, OSError, Airflow's) are translated once, at the I/O boundary, with
``raise OurError(msg) from exc`` so the cause stays attached::

    BundlesExtError
     ├── BundleConfigError          a bundle definition (JSON file, kwargs) is invalid
     ├── PolicyError                the platform's tenancy policy file is invalid
     │    └── PatternError          a policy pattern uses a placeholder that has no value
     ├── UnsafePathError            a key, name or version would land outside its directory
     ├── SourceError                talking to the source (S3, git remote) failed
     │    ├── S3SourceError
     │    │    └── S3RequestError   one S3 request failed (``code``, ``status``, ``object_only``)
     │    └── GitSourceError
     │         ├── GitCommandError  one git command failed (``reason``)
     │         └── RefNotFoundError the remote has no ref matching the tracked ref
     ├── ManifestError              a stored manifest is not a manifest of that version
     ├── VersionUnavailableError    a pinned version cannot be rebuilt from the source
     ├── EmptySourceRefusedError    the source is empty but the published version is not
     ├── SourceLimitError           the source exceeds a platform cap (files, bytes)
     ├── PublishError               the local tree could not be staged or published
     ├── CheckUnavailable           a bundle file's check could not be completed (retried)
     ├── UnsupportedAirflowError    the running Airflow lacks what the watcher hooks
     ├── SyncConfigError            a sidecar setting is missing or invalid (exit code 2)
     ├── SyncInterrupted            a stop signal arrived while waiting on S3
     ├── UnknownBundleError         no bundle of that name (status API, CLI)
     └── InactiveBundleError        the bundle is inactive: nothing would refresh it

Messages follow one shape: ``what failed: which object: why; what to do``. They never
contain a secret: URLs are redacted before they are put in a message.
"""

from __future__ import annotations

from typing import Literal

from airflow_bundles_ext.core.text import printable


class BundlesExtError(Exception):
    """Base class of every error raised by this package."""


class BundleConfigError(BundlesExtError):
    """A bundle definition is invalid.

    ``source`` names the file (or ``dag_bundle_config_list``), ``key`` the offending key
    when there is one.
    """

    def __init__(self, source: str, problem: str, *, key: str | None = None) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{printable(source)}: key {printable(key)!r}" if key else printable(source)
        super().__init__(f"invalid bundle config {where}: {printable(problem, 2000)}")


class PolicyError(BundlesExtError):
    """The platform's tenancy policy file (``[bundles_ext] tenancy_policy``) is unreadable or invalid."""


class PatternError(PolicyError):
    """A pattern of the tenancy policy uses a placeholder that has no value."""


class UnsafePathError(BundlesExtError):
    """A key, bundle name or version would escape the directory it must stay in."""


class SourceError(BundlesExtError):
    """Reading from the bundle source failed; the published version is left in place."""


class S3SourceError(SourceError):
    """Talking to S3 failed."""


_S3_ADVICE = {
    "AccessDenied": "grant the connection's role the permission (see docs/s3-bundle.md, IAM policy)",
    "NoSuchBucket": "check bucket_name and the connection's region/endpoint",
    "NoSuchKey": "the object was deleted after it was listed; the next refresh lists again",
    "NoSuchVersion": "that object version was deleted from the bucket",
    "PreconditionFailed": "the object changed after it was listed, or a conditional write lost a race",
    "InvalidAccessKeyId": "check the AWS connection's credentials",
    "SignatureDoesNotMatch": "check the AWS connection's credentials",
}
_S3_TRANSIENT = (
    "a transient S3 or network fault; the published version keeps serving and the next try retries"
)
_NOT_OBJECT_ONLY = (408, 429)  # timeouts and throttling concern every object


class S3RequestError(S3SourceError):
    """One S3 request failed. ``code`` is the S3 error code (``"SlowDown"``) or the exception name."""

    def __init__(self, action: str, url: str, code: str, detail: str, *, status: int | None = None) -> None:
        self.action, self.url, self.code, self.status = action, url, code, status
        advice = _S3_ADVICE.get(code, _S3_TRANSIENT)
        super().__init__(f"S3 {action} failed: {printable(url)}: {code}: {detail}; {advice}")

    @property
    def gone(self) -> bool:
        return self.code in ("NoSuchKey", "NoSuchVersion")

    @property
    def object_only(self) -> bool:
        """A 4xx about this object (403 for another team's KMS key, 400 for SSE-C...), not the service."""
        return self.status is not None and 400 <= self.status < 500 and self.status not in _NOT_OBJECT_ONLY


class GitSourceError(SourceError):
    """A git command against the remote or the local store failed."""


GitFailure = Literal["timeout", "transport", "auth", "refused", "failed"]


class GitCommandError(GitSourceError):
    """A git command failed; ``reason`` says how: ``timeout``, ``transport`` (network, HTTP 5xx),
    ``auth``, ``refused`` (the server will not serve a commit by SHA) or ``failed`` (anything else,
    which for a remote that answered means a damaged local store)."""

    def __init__(self, message: str, reason: GitFailure) -> None:
        super().__init__(message)
        self.reason: GitFailure = reason


class RefNotFoundError(GitSourceError):
    """The remote has no ref matching the tracked ref."""


class ManifestError(BundlesExtError):
    """A stored manifest is unreadable, or not the manifest of the version it is stored for."""


class VersionUnavailableError(BundlesExtError):
    """A pinned bundle version cannot be rebuilt from the source."""


class EmptySourceRefusedError(BundlesExtError):
    """The source listed no files while the published version has some."""


class SourceLimitError(BundlesExtError):
    """The source holds more files or bytes than the bundle's caps allow; nothing was published."""


class PublishError(BundlesExtError):
    """Staging or publishing a local tree failed; the previous version keeps serving."""


class CheckUnavailable(BundlesExtError):
    """A check of a bundle file could not be completed (not: the file is invalid); retried."""


class UnsupportedAirflowError(BundlesExtError):
    """The running Airflow is outside the supported range or lacks an internal the watcher needs."""


class SyncConfigError(BundlesExtError):
    """A sidecar setting is missing or invalid. The console script exits with code 2."""

    def __init__(self, variable: str, flag: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"invalid sidecar setting {variable} ({flag}): {problem}")


class SyncInterrupted(BundlesExtError):
    """A stop signal arrived while waiting on S3; nothing was changed on disk."""


class UnknownBundleError(BundlesExtError):
    """No bundle of that name is configured or known to the metadata DB."""


class InactiveBundleError(BundlesExtError):
    """The bundle is known but inactive: no DAG processor would refresh it."""
