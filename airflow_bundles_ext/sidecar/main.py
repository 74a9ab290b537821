"""The ``airflow-bundle-sync`` console script: settings, signals, the loop, exit codes.

    airflow-bundle-sync [sync] [--mode once|sidecar] [--bucket B] [--prefix P] [--path DIR] ...
    airflow-bundle-sync probe [--max-age 90] [--health-file PATH]

Exit codes: 0 success (or stopped by SIGTERM/SIGINT), 1 sync failed (``once``: the first
cycle; ``sidecar``: ``MAX_FAILURES`` cycles in a row), 2 bad settings. ``probe`` exits 0
when the health file is fresh and 1 when it is missing or older than ``--max-age``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from types import FrameType

from airflow_bundles_ext.errors import BundlesExtError, PolicyError, SyncInterrupted
from airflow_bundles_ext.sidecar import health
from airflow_bundles_ext.sidecar.config import (
    SETTINGS,
    SyncConfig,
    SyncConfigError,
    probe_config,
    sync_config,
)
from airflow_bundles_ext.sidecar.log import EventLogger, configure, get_logger
from airflow_bundles_ext.sidecar.s3 import make_client
from airflow_bundles_ext.sidecar.sync import Syncer

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

_HELP = {
    "mode": "'once' syncs one time (init container); 'sidecar' loops",
    "interval": "seconds between the end of a cycle and the start of the next",
    "bucket": "bucket holding the bundle JSON files",
    "prefix": "key prefix of the bundle JSON files (a trailing '/' is added)",
    "path": "the watched directory to keep in step (the watcher's dag_bundle_config_path)",
    "health_file": "rewritten after each successful cycle",
    "max_failures": "exit non-zero after this many consecutive failed cycles",
    "allow_empty": "allow an empty listing to delete every bundle file (true/false)",
    "allowed_classpaths": "comma-separated classpaths (fnmatch '*'), as the watcher's allow-list",
    "tenancy_policy": "the platform's tenancy policy file, the same one the watcher reads",
    "endpoint_url": "S3 endpoint (boto3 also reads AWS_ENDPOINT_URL itself)",
    "max_attempts": "attempts per S3 request, with exponential backoff (standard retry mode)",
    "log_level": "debug, info, warning or error",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airflow-bundle-sync",
        description="Keep a directory of bundle JSON files in step with an S3 prefix. "
        "Every flag mirrors an environment variable; the flag wins.",
    )
    for dest, setting in SETTINGS.items():
        default = f" (default: {setting.default})" if setting.default else ""
        parser.add_argument(setting.flag, dest=dest, metavar=setting.env, help=f"{_HELP[dest]}{default}")
    return parser


def build_probe_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airflow-bundle-sync probe",
        description="Exit 0 when the health file was written at most --max-age seconds ago, else 1.",
    )
    parser.add_argument("--max-age", metavar="PROBE_MAX_AGE", help="seconds (default: 90)")
    parser.add_argument("--health-file", metavar="HEALTH_FILE", help="default: /tmp/sync-health")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    environ = os.environ if env is None else env
    if args[:1] == ["probe"]:
        return run_probe(args[1:], environ)
    if args[:1] == ["sync"]:
        args = args[1:]
    flags = vars(build_parser().parse_args(args))
    try:
        config = sync_config(flags, environ)
    except SyncConfigError as exc:
        print(f"airflow-bundle-sync: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure(config.log_level)
    return run(config)


def run_probe(args: Sequence[str], env: Mapping[str, str]) -> int:
    ns = build_probe_parser().parse_args(args)
    try:
        config = probe_config(ns.health_file, ns.max_age, env)
    except SyncConfigError as exc:
        print(f"airflow-bundle-sync probe: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    result = health.probe(config.health_file, config.max_age)
    print(result.message, file=sys.stdout if result.healthy else sys.stderr)
    return EXIT_OK if result.healthy else EXIT_FAILED


def run(config: SyncConfig) -> int:
    """Install the signal handlers and run the cycles; returns the exit code."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()  # only a flag: the loop and the network wait notice it within 50 ms

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log = get_logger(__name__).bind(source=config.source, path=str(config.path))
    try:
        client = make_client(config)
    except Exception as exc:  # botocore raises ValueError and its own errors for bad AWS_* settings
        log.error("cannot create the S3 client", error=str(exc), hint="check the AWS_* settings")
        return EXIT_CONFIG
    syncer = Syncer(config, client, stop)
    try:
        syncer.prepare()
    except OSError as exc:
        log.error("cannot prepare the directory", error=str(exc), hint="check BUNDLE_PATH (--path)")
        return EXIT_CONFIG
    except PolicyError as exc:
        log.error(
            "tenancy policy unusable", error=str(exc), hint="check AIRFLOW__BUNDLES_EXT__TENANCY_POLICY"
        )
        return EXIT_CONFIG
    log.info("sync started", mode=config.mode, interval=config.interval, max_failures=config.max_failures)
    return loop(config, syncer, stop, log)


def loop(config: SyncConfig, syncer: Syncer, stop: threading.Event, log: EventLogger) -> int:
    failures = 0
    cycle = 0
    while not stop.is_set():
        cycle += 1
        try:
            report = syncer.run_cycle()
            health.write_health(config.health_file, report, cycle=cycle, source=config.source)
        except SyncInterrupted:
            break
        except BundlesExtError as exc:
            failures += 1
            log.error("cycle failed", cycle=cycle, failures=failures, error=str(exc))
        except Exception as exc:  # a bug must not kill the loop silently: count it and go on
            failures += 1
            log.error(
                "cycle failed unexpectedly", cycle=cycle, failures=failures, error=repr(exc), exc_info=True
            )
        else:
            failures = 0
            quiet = not (report.written or report.deleted)  # a quiet cycle every 30 s is debug noise
            (log.debug if quiet else log.info)(
                "cycle done",
                cycle=cycle,
                objects=report.objects,
                fetched=report.fetched,
                written=len(report.written),
                deleted=len(report.deleted),
                rejected=len(report.rejected),
            )
            if config.mode == "once":
                return EXIT_OK
        if config.mode == "once":
            return EXIT_FAILED
        if failures >= config.max_failures:
            log.error("giving up", failures=failures, hint="the health file is stale; restart to retry")
            return EXIT_FAILED
        stop.wait(config.interval)
    log.info("stopped", signal="SIGTERM/SIGINT")
    return EXIT_OK if config.mode == "sidecar" else EXIT_FAILED
