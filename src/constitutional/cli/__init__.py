"""Command line: one subcommand per stage; each calls that stage's ``main(cfg)``.

Every command that takes a config accepts ``--section.key=value`` overrides,
e.g. ``constitutional run demo.yaml --sl_cai.rounds=2 --name=try2``.
"""

from constitutional.cli import commands, guard  # noqa: F401  (each registers its commands on the app)
from constitutional.cli.commands import stage_help
from constitutional.cli.common import DEBUG, app

__all__ = ["DEBUG", "app", "stage_help"]
