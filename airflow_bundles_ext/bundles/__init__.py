"""DAG bundle classes: :mod:`.s3` and :mod:`.git`."""
