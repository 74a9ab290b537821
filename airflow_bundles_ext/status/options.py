"""Options of the status writer, the API and the webhooks, read from Airflow's config."""

from __future__ import annotations

SECTION = "bundles_ext"
DEFAULT_MAX_FAILURES = 3


def writer_enabled() -> bool:
    """``[bundles_ext] status_writer``; never raises (read at process start).

    Empty (the default) follows the watcher: on when ``[dag_processor] dag_bundle_config_path``
    is set, so that without it this package changes nothing in Airflow. ``True`` turns the
    writer on for static bundles alone; ``False`` turns it off.
    """
    try:
        from airflow.configuration import conf

        value = (conf.get(SECTION, "status_writer", fallback="") or "").strip().lower()
        if not value:
            from airflow_bundles_ext.watcher.options import is_configured

            return is_configured()
        return value in ("true", "1", "yes", "on", "t")
    except Exception:
        return False


def max_failures() -> int:
    from airflow.configuration import conf

    return max(1, conf.getint(SECTION, "health_max_failures", fallback=DEFAULT_MAX_FAILURES))


def webhook_secret(option: str) -> str:
    """A webhook secret; ``conf.get`` resolves the ``_cmd``/``_secret`` variants of sensitive options."""
    from airflow.configuration import conf

    return (conf.get(SECTION, option, fallback="") or "").strip()
