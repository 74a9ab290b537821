"""Bundle status: what DAG processors report about every bundle, stored in the metadata DB.

The pieces, from pure to I/O:

* :mod:`.model`: frozen values (:class:`~.model.BundleStatus`, :class:`~.model.InvalidFile`),
  the refresh bookkeeping (:func:`~.model.record_start`, ``record_success``, ``record_failure``),
  the diff that decides what to write, and the health rule. No Airflow, no DB.
* :mod:`.webhooks`: signature checks and push-to-bundle matching for GitHub and GitLab. Pure.
* :mod:`.tables`: the two tables (SQLAlchemy Core, own ``MetaData``); :mod:`.db_manager` and
  ``migrations/`` let ``airflow db migrate`` create and upgrade them (provider ``db-managers``).
* :mod:`.store`: reads and writes of those tables.
* :mod:`.service`: the read model and the refresh request used by the REST API, the page and
  the CLI alike, so all three show the same data and have the same effect.

The DAG processor side lives in :mod:`airflow_bundles_ext.integration.status_hook` (the one
place that touches the processor's internals). See docs/status.md.
"""
