"""``airflow bundles-ext ...`` operator commands."""
