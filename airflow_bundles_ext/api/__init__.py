"""The ``/bundles-ext`` FastAPI app mounted in ``airflow api-server`` by :mod:`airflow_bundles_ext.plugin`.

``app.py`` builds it; ``routes.py`` (status and refresh, Airflow's auth manager),
``webhooks.py`` (GitHub and GitLab, signature-authenticated), ``page.py`` (the Bundles page).
Every handler is a thin shell over :mod:`airflow_bundles_ext.status.service`.
"""
