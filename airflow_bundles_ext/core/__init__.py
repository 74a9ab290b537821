"""Pure core: plain data and functions, no boto3, git, Airflow or filesystem writes.

Everything here is unit-tested with plain data; the I/O shells call into it.
"""
