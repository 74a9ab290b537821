"""The bundle-config watcher: a directory of bundle JSON files that every Airflow process resolves.

Modules:

* :mod:`.options` reads the watcher's options from Airflow's config.
* :mod:`.state` persists the last good definition per file and what a processor owns.
* :mod:`.view` turns the directory into the bundles in force (stat every loop, read on change).
* :mod:`.demo` writes bundle files and the env that switches the watcher on (demos, tests).

Reclaiming removed bundles' storage (Airflow's tracking files and locks) and the stats module
lookup are Airflow internals, so they live in :mod:`airflow_bundles_ext.integration`; metrics go
through :class:`airflow_bundles_ext.metrics.BundleMetrics`. See docs/watcher.md.
"""
