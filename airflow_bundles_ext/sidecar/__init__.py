"""``airflow-bundle-sync``: keep the watched bundle-config directory in step with an S3 prefix.

The sidecar (and init container) of the bundle-config watcher's deployment. It needs boto3
only: no Airflow import and no Airflow database. One cycle is a straight line of steps
(:mod:`.sync`)::

    list the prefix (all pages) -> scan the local dir -> plan (pure diff, :mod:`.plan`)
    -> GET only objects whose ETag changed -> validate each with the watcher's own rules
    -> write changed files atomically, delete files whose object is gone -> save state
    -> touch the health file

Everything that can fail remotely happens before the first local change, so a failed cycle
changes nothing on disk. Exit codes of the console script (:mod:`.main`):

    0  once: the sync succeeded; sidecar: stopped by SIGTERM/SIGINT; probe: healthy
    1  once: the sync failed; sidecar: MAX_FAILURES consecutive failed cycles; probe: stale
    2  bad configuration (the message names the variable and flag)
"""

from __future__ import annotations
