"""The ``transactive`` command.

Exit codes: 0 success; 2 invalid input (one line on stderr naming the field); 1 an internal error
(one line; set ``TRANSACTIVE_DEBUG=1`` for the traceback). Never a traceback for bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from transactive import __version__
from transactive.cli import _clear, _day, _demo, _grid, _ledger, _serve, _sign, _study
from transactive.errors import FieldError

EXIT_INVALID = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="transactive", description="Peer-to-peer energy and negawatt trading.")
    parser.add_argument("--version", action="version", version=f"transactive {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _clear.register(sub)
    _day.register(sub)
    _demo.register(sub)
    _grid.register(sub)
    _ledger.register(sub)
    _serve.register(sub)
    _sign.register(sub)
    _study.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except FieldError as exc:  # every input error of the library names its field
        print(f"error: {exc.field}: {exc.message}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return _internal(exc)


def _internal(exc: Exception) -> int:
    if os.environ.get("TRANSACTIVE_DEBUG"):
        raise exc
    print(f"internal error: {type(exc).__name__}: {exc} (set TRANSACTIVE_DEBUG=1 for details)", file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
