"""`seggpt` command line: one subcommand per part of the pipeline, each in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from seggpt.cli import app, convert, segment, train, tune, video
from seggpt.cli import eval as eval_command
from seggpt.cli.errors import CLIError, NothingDoneError, describe

__all__ = ["CLIError", "build_parser", "main"]

SUBCOMMANDS = [convert, segment, video, train, tune, eval_command, app]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seggpt",
        description="SegGPT: segment everything in context. Show the model examples with masks; it segments "
        "the same kind of thing in new images and videos.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except Exception as err:
        message = describe(err)
        if message is None:
            raise
        print(f"seggpt {args.command}: error: {message}", file=sys.stderr)
        return 1 if isinstance(err, NothingDoneError) else 2
    except KeyboardInterrupt:
        print(f"seggpt {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
