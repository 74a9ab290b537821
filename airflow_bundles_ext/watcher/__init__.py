"""The bundle-config watcher: a directory of bundle JSON files that every Airflow process resolves.

Modules:

* :mod:`.options` reads the watcher's options from Airflow's config.
* :mod:`.state` persists the last good definition per file and what a processor owns.
* :mod:`.view` turns the directory into the bundles in force (stat every loop, read on change).
* :mod:`.reclaim` removes the local storage of removed bundles once no task holds a version.
* :mod:`.metrics` emits the watcher's metrics.

Airflow internals are touched only in :mod:`airflow_bundles_ext.integration`; see docs/watcher.md.
"""
