"""Exceptions raised by airflow-bundles-ext.

Every error this package raises derives from :class:`BundlesExtError`. Foreign exceptions
(botocore, subprocess, OSError) are translated once, at the I/O boundary, with
``raise OurError(msg) from exc`` so the cause stays attached::

    BundlesExtError
     ├── BundleConfigError        a bundle definition (JSON file, kwargs) is invalid
     ├── PolicyError              the platform's tenancy policy file is invalid
     ├── UnsafePathError          a key, name or version would land outside its directory
     ├── SourceError              talking to the source (S3, git remote) failed
     │    ├── S3SourceError
     │    └── GitSourceError
     ├── VersionUnavailableError  a pinned version cannot be rebuilt from the source
     ├── EmptySourceRefusedError  the source is empty but the published version is not
     ├── SourceLimitError         the source exceeds a platform cap (files, bytes)
     ├── PublishError             the local tree could not be staged or published
     ├── UnknownBundleError       no bundle of that name (status API, CLI)
     └── InactiveBundleError      the bundle is inactive: nothing would refresh it

Messages follow one shape: ``what failed: which object: why; what to do``. They never
contain a secret: URLs are redacted before they are put in a message.
"""

from __future__ import annotations

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


class UnsafePathError(BundlesExtError):
    """A key, bundle name or version would escape the directory it must stay in."""


class SourceError(BundlesExtError):
    """Reading from the bundle source failed; the published version is left in place."""


class S3SourceError(SourceError):
    """An S3 request failed."""


class GitSourceError(SourceError):
    """A git command against the remote or the local store failed."""


class VersionUnavailableError(BundlesExtError):
    """A pinned bundle version cannot be rebuilt from the source."""


class EmptySourceRefusedError(BundlesExtError):
    """The source listed no files while the published version has some."""


class SourceLimitError(BundlesExtError):
    """The source holds more files or bytes than the bundle's caps allow; nothing was published."""


class PublishError(BundlesExtError):
    """Staging or publishing a local tree failed; the previous version keeps serving."""


# [bundles-ext status] errors of the status API, the page and the CLI.


class UnknownBundleError(BundlesExtError):
    """No bundle of that name is known to Airflow (no ``dag_bundle`` row)."""


class InactiveBundleError(BundlesExtError):
    """The bundle is known but inactive: no DAG processor owns it, so nothing can refresh it."""
