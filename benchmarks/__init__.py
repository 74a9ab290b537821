"""Benchmarks: this package's classes against the upstream ones, same run, same data.

Run ``python -m benchmarks [suite ...] [--repeat N] [--quick]``. Each suite is a module
``benchmarks/bench_<suite>.py`` with ``run(opts: Options) -> list[Case]``.
"""
