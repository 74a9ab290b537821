"""Options of the status writer, the API and the webhooks, read from Airflow's config."""

from __future__ import annotations

SECTION = "bundles_ext"
DEFAULT_MAX_FAILURES = 3


def writer_enabled() -> bool:
    """``[bundles_ext] status_writer`` (default on); never raises (read at process start)."""
    try:
        from airflow.configuration import conf

        return conf.getboolean(SECTION, "status_writer", fallback=True)
    except Exception:
        return False


def max_failures() -> int:
    from airflow.configuration import conf

    return max(1, conf.getint(SECTION, "health_max_failures", fallback=DEFAULT_MAX_FAILURES))


def webhook_secret(option: str) -> str:
    """A webhook secret; ``conf.get`` resolves the ``_cmd``/``_secret`` variants of sensitive options."""
    from airflow.configuration import conf

    return (conf.get(SECTION, option, fallback="") or "").strip()
