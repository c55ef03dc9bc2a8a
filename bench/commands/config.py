"""`bench config schema|reference|check`: the keys of lab_config.yaml.

- `bench config schema`: the JSON schema of lab_config.yaml, for editors (YAML language server).
- `bench config reference`: every key as a Markdown table (what docs/config.md holds).
- `bench config check [--config FILE]`: validate a config as `bench run` does (exit 0, or 2
  naming the file, the key and the reason).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from bench.commands import LoadVirtualLab
from bench.config import load_config, preflight

console = Console(highlight=False)


def register(subparsers, virtual_lab: LoadVirtualLab) -> None:
    p = subparsers.add_parser("config", help="the keys of lab_config.yaml: JSON schema, reference, check a file")
    sub = p.add_subparsers(required=True, metavar="ACTION")
    schema = sub.add_parser("schema", help="print the JSON schema of lab_config.yaml (for editors)")
    schema.set_defaults(func=cmd_schema)
    ref = sub.add_parser("reference", help="print every key as Markdown (docs/config.md)")
    ref.set_defaults(func=cmd_reference)
    check = sub.add_parser("check", help="validate a config as `bench run` does, before any instrument")
    check.add_argument("--config", type=Path, default=Path("lab_config.yaml"))
    check.set_defaults(func=cmd_check)


def cmd_schema(args: argparse.Namespace) -> int:
    from bench.config_reference import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    from bench.config_reference import markdown_reference

    print(markdown_reference(), end="")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    config = load_config(args.config)  # ConfigError: exit 2 with the file, key and reason
    preflight(config, args.config)
    positions = ", ".join(f"{p.name} ({p.dut.charge_point_id}, OCPP {p.dut.ocpp_version}, "
                          f"{len(p.instruments)} instruments)" for p in config.positions)
    where = "virtual lab" if config.virtual_lab.enabled else "real bench"
    console.print(f"{args.config}: valid; {where}; {positions}", soft_wrap=True)
    return 0
