"""The `stylegan` group: how any command's errors and interruptions end, and the list of commands."""

from __future__ import annotations

import sys

import click

from stylegan.errors import StyleGANError

USER_ERROR_EXIT_CODE = 2
INTERRUPTED_EXIT_CODE = 130


class _Group(click.Group):
    """Prints a StyleGANError as one line (no traceback) and exits with code 2; Ctrl-C exits with 130."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except StyleGANError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(USER_ERROR_EXIT_CODE)
        except KeyboardInterrupt:
            click.echo(
                "interrupted: files already reported are complete; nothing partial was written", err=True
            )
            sys.exit(INTERRUPTED_EXIT_CODE)


@click.group(cls=_Group)
@click.version_option(package_name="stylegan-studio")
def main() -> None:
    """StyleGAN-XL studio: inspect, convert and run generators, open the visualizer, train."""
