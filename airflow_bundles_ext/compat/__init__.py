"""Everything that depends on an Airflow or provider version, in one low layer.

- :mod:`.airflow`: which Airflow line runs (3.2, 3.3), the supported range, and the values that
  differ between lines (``get_current_version()``'s type, how ``initialize()`` errors are retried);
- :mod:`.processor`: the DAG processor's and bundles manager's internals that differ by line;
- :mod:`.stats`: which of Airflow's stats modules this process initialised;
- :mod:`.tracking`: Airflow's version tracking files and their lock protocol;
- :mod:`.github`: minting a GitHub App installation token through the git provider.

Nothing here patches anything (that is :mod:`airflow_bundles_ext.integration`), and no module
here imports from a higher layer of the package.
"""
