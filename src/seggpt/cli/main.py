"""`seggpt` command line: one subcommand per part of the pipeline, each in its own module."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from seggpt.cli import app, convert, segment, train, tune, video
from seggpt.cli import eval as eval_command
from seggpt.cli.errors import CLIError, NothingDoneError, Terminated, describe, raise_terminated

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
    in_main_thread = threading.current_thread() is threading.main_thread()  # only there can signals be handled
    previous = signal.signal(signal.SIGTERM, raise_terminated) if in_main_thread else None
    try:
        return int(args.run(args) or 0)
    except Exception as err:
        message = describe(err)
        if message is None:
            raise
        print(f"seggpt {args.command}: error: {message}", file=sys.stderr)
        return 1 if isinstance(err, NothingDoneError) else 2
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM as Terminated: temporary files are gone by now
        terminated = isinstance(err, Terminated)
        print(f"seggpt {args.command}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
