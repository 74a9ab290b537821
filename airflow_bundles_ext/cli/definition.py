"""CLI definition. Imported by every ``airflow`` invocation: keep it cheap (no package imports).

The command functions live in :mod:`airflow_bundles_ext.cli.commands` and are loaded only
when their command runs (``lazy_load_command``).
"""

from __future__ import annotations

from typing import Any


def get_cli_commands() -> list[Any]:
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

    arg_dir = Arg(
        ("dir",),
        nargs="?",
        default=None,
        help="Directory of bundle JSON files (default: [dag_processor] dag_bundle_config_path)",
    )
    arg_output = Arg(
        ("-o", "--output"),
        choices=("table", "json"),
        default="table",
        help="Output format",
    )
    commands = (
        ActionCommand(
            name="validate",
            help="Check a directory of bundle JSON files exactly as the DAG processor would; "
            "exit non-zero if any file is invalid",
            func=lazy_load_command("airflow_bundles_ext.cli.commands.validate"),
            args=(arg_dir, arg_output),
        ),
        ActionCommand(
            name="list",
            help="List every bundle with its source (static list or file), active flag, version "
            "and last refresh",
            func=lazy_load_command("airflow_bundles_ext.cli.commands.list_bundles"),
            args=(arg_output,),
        ),
    )
    commands += _status_commands(Arg, ActionCommand, lazy_load_command, arg_output)  # [bundles-ext status]
    return [
        GroupCommand(
            name="bundles-ext",
            help="Operate airflow-bundles-ext: validate bundle config directories, list bundles, "
            "show bundle status, request a refresh",
            subcommands=commands,
        )
    ]


def _status_commands(
    Arg: Any, ActionCommand: Any, lazy_load_command: Any, arg_output: Any
) -> tuple[Any, ...]:
    """[bundles-ext status] ``status [NAME]`` and ``refresh NAME`` (cli/status_commands.py)."""
    module = "airflow_bundles_ext.cli.status_commands"
    return (
        ActionCommand(
            name="status",
            help="Show what the DAG processors report for every bundle (or NAME): health, version, last "
            "refresh, last error, storage, and the watched directory's invalid files",
            func=lazy_load_command(f"{module}.status"),
            args=(Arg(("name",), nargs="?", default=None, help="Bundle name (default: all)"), arg_output),
        ),
        ActionCommand(
            name="refresh",
            help="Have the DAG processor that owns bundle NAME refresh it on its next loop, whatever "
            "its refresh_interval",
            func=lazy_load_command(f"{module}.refresh"),
            args=(Arg(("name",), help="Bundle name"), arg_output),
        ),
    )
