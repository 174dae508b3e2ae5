"""What every command shares: the app, its --debug switch, friendly errors, config loading."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import click
import typer

from constitutional.core.config import load_config
from constitutional.core.errors import ConstitutionalError
from constitutional.core.ui import console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Align open-weight language models to a written constitution, and measure what that buys.")
EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


DEBUG = {"on": os.environ.get("CONSTITUTIONAL_DEBUG") == "1"}


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="show the traceback of an unexpected error "
                                     "(also CONSTITUTIONAL_DEBUG=1)")):
    DEBUG["on"] = DEBUG["on"] or debug
    from constitutional.core.dist import is_main

    console.quiet = not is_main()  # under accelerate launch, one process speaks


def friendly(fn):
    """Print user errors as one clear message and exit 2, without a traceback; an unexpected error is one line
    and exit 1, its traceback only under --debug."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ConstitutionalError as e:
            console.print("[bold red]error:[/] ", end="")
            console.print(e.render(), markup=False, highlight=False)
            raise typer.Exit(2) from None
        except (typer.Exit, typer.Abort, typer.exceptions.TyperException, click.exceptions.Exit,
                click.exceptions.Abort, click.ClickException):
            raise  # the CLI's own exits and usage errors
        except Exception as e:
            if DEBUG["on"]:
                raise
            console.print("[bold red]unexpected error:[/] ", end="")
            console.print(f"{type(e).__name__}: {e}", markup=False, highlight=False)
            console.print("  hint: rerun with --debug (constitutional --debug ...) for the traceback, and report it",
                          markup=False)
            raise typer.Exit(1) from None

    return wrapper


def _option(section, name: str, **kw):
    """A typer option whose default and help are the config field's (one source of truth)."""
    field = section.model_fields[name]
    return typer.Option(field.default, help=field.description, **kw)


def _config(config: Path | None, args: list[str]):
    """The config file is optional, so click may take the first override for it."""
    if config is not None and str(config).startswith("--"):
        config, args = None, [str(config), *args]
    return load_config(config, args)


