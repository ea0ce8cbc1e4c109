"""`finrnn-predictions`: print or export stored predictions, filtered by date, ticker and model."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

FORMATS = ("table", "csv", "parquet")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finrnn-predictions",
        description="Read the predictions table (one row per date, ticker and model: predicted "
        "and realized forward log return, forward_step, model_version, cutoff) from a finrnn "
        "storage root, filtered by date range, ticker and model.",
        epilog="Examples:\n"
        "  finrnn-predictions --start 2018-06-01 --end 2018-06-30 --ticker AAPL --model lstm\n"
        "  finrnn-predictions --format csv --output june.csv --start 2018-06-01\n"
        "  finrnn-predictions --format parquet --output preds.parquet --model gru --model rnn",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--root",
        default=os.environ.get("FINRNN_STORAGE_ROOT", "finrnn_data"),
        help="storage root holding predictions/ (default: $FINRNN_STORAGE_ROOT or finrnn_data; "
        "now: %(default)s)",
    )
    parser.add_argument("--start", help="first date YYYY-MM-DD, inclusive (default: the first)")
    parser.add_argument("--end", help="last date YYYY-MM-DD, inclusive (default: the last)")
    parser.add_argument(
        "--ticker",
        action="append",
        default=[],
        help="keep this ticker (exact, case-sensitive); repeat for several (default: all)",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        help="keep this model id (lstm, gru, rnn; any case); repeat for several (default: all)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table: aligned text; csv; parquet (needs --output). Default: %(default)s",
    )
    parser.add_argument(
        "--output", help="write to this file instead of standard output (required for parquet)"
    )
    return parser


def _date(parser: argparse.ArgumentParser, name: str, value: str | None):
    import pandas as pd

    if value is None:
        return None
    try:
        return pd.Timestamp(dt.date.fromisoformat(value))
    except ValueError:
        parser.error(f"--{name} must be a date YYYY-MM-DD. Received: {value!r}")


def _listed(names: list[str], limit: int = 10) -> str:
    """The first `limit` names, and how many more there are: `['A', ..., 'J', ..., and 11 more]`."""
    more = len(names) - limit
    return str(names) if more <= 0 else f"{str(names[:limit])[:-1]}, ..., and {more} more]"


def _unmatched(args: argparse.Namespace, rows) -> dict[str, list[str]]:
    """The --ticker and --model names, as typed, that no row of `rows` has.

    A model name matches by the library's rule (`LSTM` is `lstm`), a ticker exactly.
    """
    from finrnn_core.reading import model_ids

    tickers, models = set(rows["ticker"]), set(rows["model"])
    return {
        "--ticker": sorted({t for t in args.ticker if t not in tickers}),
        "--model": sorted({m for m in args.model if model_ids(m)[0] not in models}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    start, end = _date(parser, "start", args.start), _date(parser, "end", args.end)
    if start is not None and end is not None and start > end:
        parser.error(f"--start {start:%Y-%m-%d} is after --end {end:%Y-%m-%d}.")
    if args.format == "parquet" and not args.output:
        parser.error("--format parquet writes a binary file: give --output FILE.")
    if args.output:
        out = Path(args.output)
        if out.is_dir() or not out.resolve().parent.is_dir():
            parser.error(
                f"--output must be a file in an existing folder. Received: {args.output!r}"
            )
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from finrnn_core.reading import PREDICTIONS_TABLE, read_predictions
    from finrnn_core.storage import partition_dates

    table_dir = Path(args.root) / PREDICTIONS_TABLE
    if not table_dir.is_dir():
        root = Path(args.root)
        hint = (
            f" {str(root)!r} looks like the predictions table itself: --root is the folder "
            f"above it ({str(root.resolve().parent)!r})."
            if root.is_dir() and any(root.glob("date=*"))
            else ""
        )
        print(
            f"finrnn-predictions: error: no predictions table at {str(table_dir.resolve())!r}. "
            "Materialize the predictions asset first (e.g. `make demo`), or pass --root / set "
            f"FINRNN_STORAGE_ROOT to the storage root that holds it.{hint}",
            file=sys.stderr,
        )
        return 2
    if not partition_dates(table_dir):
        print(
            f"finrnn-predictions: error: the predictions table at {str(table_dir.resolve())!r} "
            "holds no partition yet (no date=YYYY-MM-DD folder with a file). Materialize the "
            "predictions asset first (e.g. `make demo`), or pass --root / set "
            "FINRNN_STORAGE_ROOT to the storage root that holds it.",
            file=sys.stderr,
        )
        return 2
    frame = read_predictions(args.root, start, end, args.ticker, args.model)
    if frame.empty:
        stored = read_predictions(args.root)
        have = {"--ticker": set(stored["ticker"]), "--model": set(stored["model"])}
        hints = [
            f"{flag} {names} not in the table (it has {_listed(sorted(have[flag]))})"
            for flag, names in _unmatched(args, stored).items()
            if names
        ]
        print(
            "finrnn-predictions: no rows match the filters"
            + (": " + "; ".join(hints) + "." if hints else ".")
            + (
                f" Stored dates: {stored['date'].min():%Y-%m-%d}..{stored['date'].max():%Y-%m-%d}."
                if len(stored)
                else ""
            ),
            file=sys.stderr,
        )
    else:
        # rows came, but a name that matched none of them would otherwise pass unseen
        for flag, names in _unmatched(args, frame).items():
            if names:
                print(f"finrnn-predictions: note: {flag} {names} matched no row.", file=sys.stderr)
    days = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    if args.format == "parquet":
        # date and cutoff are days: stored as Parquet dates, as in the table, not timestamps
        # (cast in Arrow: an empty column of Python dates would be written as type null)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for column in days:
            index = table.schema.get_field_index(column)
            table = table.set_column(index, column, table[column].cast(pa.date32()))
        pq.write_table(table, args.output)
    else:
        for column in days:
            frame[column] = frame[column].dt.strftime("%Y-%m-%d")
        if args.format == "csv":
            text = frame.to_csv(index=False)
        else:
            text = frame.to_string(index=False) + "\n" if len(frame) else ""
        if args.output:
            Path(args.output).write_text(text)
        else:
            sys.stdout.write(text)
    if args.output:
        print(f"{len(frame)} row(s) written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
