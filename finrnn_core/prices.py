"""Read daily price files of many layouts into one long table, quarantining every unusable row.

Layouts recognised from the header (names matched case-, space-, underscore-, dash- and
``<>``-insensitively, with common aliases):

* **OHLCV per ticker** — Yahoo Finance (``Date, Open, High, Low, Close, Adj Close, Volume``),
  Kaggle (``…, Volume, OpenInt``), Stooq per-ticker files. The ticker is the file name without
  its extensions (``AAPL.US.csv.gz`` -> ``AAPL.US``).
* **Long multi-ticker** — a ``ticker`` / ``symbol`` column plus date and prices, including Stooq
  bulk files (``<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,…`` with ``YYYYMMDD`` dates).
* **Wide close table** — a date column plus one price column per ticker.
* **Single series** — a date column plus one value column (an index level, a commodity price);
  the ticker is the file name.

Anything else can be described with an explicit ``column_map`` and :class:`CsvDialect`.

Accounting: every row read in the requested date range (one per date and ticker; rows whose date
cannot be read are always counted) ends up in exactly one of :attr:`PriceIngest.prices` or
:attr:`PriceIngest.quarantine`, so ``rows_read == rows_accepted + rows_quarantined``.
"""

from __future__ import annotations

import codecs
import glob as globlib
import gzip
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from finrnn_core.errors import ConfigError, DataError

PRICE_COLUMNS = ("ticker", "open", "high", "low", "close", "adj_close", "volume", "source_file")
QUARANTINE_COLUMNS = (
    "ticker",
    "source_file",
    "row_number",
    "column",
    "raw_date",
    "raw_value",
    "reason",
)
FLAG_COLUMNS = ("date", "ticker", "kind", "value", "source_file")
SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".txt", ".txt.gz", ".parquet")
CANONICAL = ("date", "ticker", "open", "high", "low", "close", "adj_close", "volume")
QUARANTINE_REASONS = (
    "unparseable_date",
    "non_trading_day",
    "missing_price",
    "wrong_field_count",
    "non_finite_price",
    "non_positive_price",
    "negative_volume",
    "unparseable_number",
    "missing_ticker",
    "duplicate_date",
)

_ALIASES = {
    "date": "date",
    "datetime": "date",
    "timestamp": "date",
    "time": "date",
    "day": "date",
    "indexlevel0": "date",  # pandas' to_parquet of a frame indexed by date
    "tradedate": "date",
    "ticker": "ticker",
    "symbol": "ticker",
    "tickersymbol": "ticker",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "last": "close",
    "closeprice": "close",
    "adjclose": "adj_close",
    "adjustedclose": "adj_close",
    "adjclosing": "adj_close",
    "volume": "volume",
    "vol": "volume",
}
_IGNORED = {"openint", "per", "period"}
_SUFFIX_MULTIPLIERS = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
# Cells of open/high/low/close/volume that mean "no value": kept as missing. Any other text
# that is not a number quarantines the row (`unparseable_number`), so no value is lost unseen.
_MISSING_TEXTS = frozenset({"", "null", "nan", "na", "n/a", "#n/a", "none", "-", "--"})
_NUMBER_WITH_SUFFIX = re.compile(r"^([+-]?\d*\.?\d+(?:[eE][+-]?\d+)?)\s*([KkMmBbTt])$")
_DATE_FORMATS = (
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y%m%d",
    "%d-%b-%Y",
    "%d %b %Y",
    "%b %d, %Y",
    "%d-%b-%y",
    "%m/%d/%y",
    "%d/%m/%y",
)
# A UTC offset or zone ending a timestamp (Z, UTC, +05:00, +0500, +05), after a time of day:
# 16:00[:00[.5]], or T16[00[00]] right after an ISO date. The year of 01-Aug-2017 is no offset.
_ZONE = r"(?:[Zz]|UTC|GMT|[+-]\d\d(?::?\d\d)?)"
_TIME = r"(?:\d\d:\d\d(?::\d\d(?:\.\d+)?)?|T\d\d(?::?\d\d(?::?\d\d(?:\.\d+)?)?)?)"
_TZ_SUFFIX = re.compile(rf"{_TIME}\s*{_ZONE}$")
_OFFSET = re.compile(rf"\s*({_ZONE})$")
# Timestamps in CSV stay text (a format with no directive matches only its own words): the
# date parser needs each stamp's own offset, and a quarantined row keeps its date as written.
# Plain dates are still typed by pyarrow, which is the fast path.
_TIMESTAMPS_STAY_TEXT = ["not a timestamp"]
# What a declared %z ends a text with (an offset), and what %Z does (a zone name: UTC, EST,
# Europe/Paris, Etc/GMT+5). Neither may start inside the time: 20210302T000000+0000.
_END_OF = {
    "%z": re.compile(r"\s*(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"),
    "%Z": re.compile(r"\s*[A-Za-z][A-Za-z_/]*(?:[+-]\d+)?$"),
}
# Every file's rows are built as one Arrow table of this schema and all files are concatenated
# before pandas sees them: one conversion instead of a DataFrame (and its per-row text) per file.
_LONG_SCHEMA = pa.schema(
    [
        ("date", pa.timestamp("ns")),
        ("ticker", pa.string()),
        *[(c, pa.float64()) for c in ("open", "high", "low", "close", "adj_close", "volume")],
        ("source_file", pa.string()),
        ("row_number", pa.int64()),
        ("column", pa.string()),
        ("raw_date", pa.string()),
        ("raw_value", pa.string()),
        ("other_reason", pa.string()),
        ("other_column", pa.string()),
        ("other_raw_value", pa.string()),
    ]
)


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file writes numbers and dates, for files the defaults do not read.

    Attributes:
        delimiter: field separator, default ``","``.
        decimal: decimal separator, ``"."`` or ``","``.
        thousands: thousands separator to strip (e.g. ``"."`` with decimal commas), or None.
        date_format: a ``strftime`` format such as ``"%d.%m.%Y"``, or None to detect.
        encoding: the text encoding, default ``"utf-8"`` (e.g. ``"latin-1"``, ``"cp1252"``);
            a file that starts with a UTF-16 or UTF-32 byte order mark is read as such.
    """

    delimiter: str = ","
    decimal: str = "."
    thousands: str | None = None
    date_format: str | None = None
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        try:
            "".encode(self.encoding)  # a text encoding: rot13 or zlib are bytes-to-bytes
        except (LookupError, TypeError, UnicodeError) as exc:
            raise ConfigError(
                "`encoding` must be a text encoding Python knows, such as 'utf-8' or 'latin-1'. "
                f"Received: encoding={self.encoding!r}"
            ) from exc
        if len(self.delimiter) != 1:
            raise ConfigError(
                f"`delimiter` must be one character. Received: delimiter={self.delimiter!r}"
            )
        if self.decimal not in (".", ","):
            raise ConfigError(f"`decimal` must be '.' or ','. Received: decimal={self.decimal!r}")
        if self.thousands is not None and (
            len(self.thousands) != 1 or self.thousands == self.decimal
        ):
            raise ConfigError(
                "`thousands` must be one character other than the decimal separator. "
                f"Received: thousands={self.thousands!r}"
            )


@dataclass(frozen=True)
class Split:
    """A stock split: prices before ``date`` are divided by ``ratio`` (4 for a 4-for-1 split)."""

    ticker: str
    date: str
    ratio: float

    def __post_init__(self) -> None:
        if not self.ratio > 0:
            raise ConfigError(f"`ratio` must be > 0. Received: ratio={self.ratio!r}")
        try:
            pd.Timestamp(self.date)
        except ValueError as exc:
            raise ConfigError(f"`date` must be YYYY-MM-DD. Received: date={self.date!r}") from exc


@dataclass
class PriceIngest:
    """The outcome of reading price files.

    Attributes:
        prices: accepted rows, one per (date, ticker): ``date`` (datetime64, midnight) plus
            :data:`PRICE_COLUMNS`. ``adj_close`` is what features are computed from.
        quarantine: rejected rows: ``date`` (NaT when unreadable) plus :data:`QUARANTINE_COLUMNS`.
        rows_read: rows (one per date and ticker) read in the requested date range, plus rows
            whose date could not be read.
        repairs: counts of safe repairs made, e.g. ``tickers_sorted_by_date``.
        flags: accepted rows worth a look (``suspected_split`` one-day jumps): :data:`FLAG_COLUMNS`.
        missing_sessions: per ticker, trading days inside its history with no row.
        files: the files read.
        files_skipped: files in the source folder, or matched by the source glob, that were
            not read (not a supported extension, or a name starting with ``.`` or ``_``).
        folders_skipped: subfolders of a folder source (a folder source reads only its own
            files; a glob such as ``"data/**/*.csv"`` reads subfolders).
        duplicates_across_files: per ticker whose same dates come from more than one file, the
            files (in reading order: the first one's row is kept, the others' are quarantined
            as ``duplicate_date``).
    """

    prices: pd.DataFrame
    quarantine: pd.DataFrame
    rows_read: int
    repairs: dict[str, int] = field(default_factory=dict)
    flags: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(FLAG_COLUMNS)))
    missing_sessions: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)
    folders_skipped: list[str] = field(default_factory=list)
    duplicates_across_files: dict[str, list[str]] = field(default_factory=dict)

    @property
    def rows_accepted(self) -> int:
        return len(self.prices)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)

    def quarantined_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(self.quarantine["reason"]).items()))

    def summary(self) -> str:
        """One line: read / accepted / quarantined by reason, and files skipped."""
        line = (
            f"{self.rows_read} rows read from {len(self.files)} file(s): {self.rows_accepted} "
            f"accepted, {self.rows_quarantined} quarantined {self.quarantined_by_reason()}"
        )
        if self.files_skipped:
            names = ", ".join(Path(p).name for p in self.files_skipped[:5])
            line += f"; {len(self.files_skipped)} file(s) skipped as not price files: {names}"
        if self.folders_skipped:
            names = ", ".join(Path(p).name + "/" for p in self.folders_skipped[:5])
            line += (
                f"; {len(self.folders_skipped)} subfolder(s) not read: {names} (a folder source "
                "reads only its own files; use a glob such as 'DIR/**/*.csv' for subfolders)"
            )
        if self.duplicates_across_files:
            ticker, files = next(iter(self.duplicates_across_files.items()))
            line += (
                f"; {len(self.duplicates_across_files)} ticker(s) have the same dates in several "
                f"files, the first file's row kept (e.g. {ticker!r}: "
                f"{', '.join(Path(f).name for f in files)})"
            )
        return line


def list_price_files(source: str | Path) -> list[Path]:
    """Return the price files a source names: a file, the files in a folder, or a glob's matches.

    A path that exists is a file or folder even when its name holds ``*``, ``?`` or ``[``.

    Raises:
        DataError: the path does not exist, or matches / holds no supported file.
    """
    text = str(source)
    if _is_glob(text):
        files = [p for p in _glob_files(text) if _is_supported(p)]
        if not files:
            raise DataError(f"No price files ({', '.join(SUPPORTED_SUFFIXES)}) match {text!r}.")
        return files
    path = Path(text).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _is_supported(p))
        if not files:
            subfolders = sorted(p.name for p in path.iterdir() if p.is_dir())
            hint = (
                f" It has subfolder(s) {subfolders[:5]}, which a folder source does not read: "
                f"use a glob such as '{path}/**/*.csv'."
                if subfolders
                else ""
            )
            raise DataError(
                f"No price files ({', '.join(SUPPORTED_SUFFIXES)}) in folder {str(path)!r}.{hint}"
            )
        return files
    raise DataError(f"Price source {str(path)!r} does not exist.")


def _is_glob(text: str) -> bool:
    """A pattern rather than a path: it has ``*``, ``?`` or ``[`` and is not an existing path."""
    return any(ch in text for ch in "*?[") and not Path(text).expanduser().exists()


def _glob_files(pattern: str) -> list[Path]:
    """The files a glob matches, each once (``**/**`` can match one twice), sorted; ``~`` expanded."""
    matches = globlib.glob(os.path.expanduser(pattern), recursive=True)
    return sorted({Path(os.path.normpath(m)) for m in matches if Path(m).is_file()})


def read_prices(
    source: str | Path,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    *,
    trading_days: Iterable | None = None,
    exchange_tz: str = "America/New_York",
    column_map: Mapping[str, str] | None = None,
    dialect: CsvDialect | None = None,
    splits: Iterable[Split] = (),
    jump_threshold: float = 0.5,
    strict: bool = False,
) -> PriceIngest:
    """Read every price file of a source and keep the rows dated in ``[start, end]``.

    Args:
        source: a price file, a folder of price files, or a glob (``"data/**/*.csv"``).
        start: first date to keep (inclusive); ``None`` for no lower bound.
        end: last date to keep (inclusive); ``None`` for no upper bound.
        trading_days: the exchange's sessions covering ``[start, end]``; rows dated on any other
            day are quarantined as ``non_trading_day`` and sessions missing inside a ticker's
            history are counted. ``None`` accepts every date.
        exchange_tz: time zone that timezone-aware timestamps are converted to before their
            date is taken (the trading date is the exchange-local date).
        column_map: explicit ``{file header: canonical name}`` (canonical names: ``date, ticker,
            open, high, low, close, adj_close, volume``) for headers no alias matches.
        dialect: delimiter, decimal and thousands separators and date format of CSV files.
        splits: splits to adjust for: prices before each split date are divided by its ratio.
        jump_threshold: a one-day ``|log return|`` above this is flagged ``suspected_split``.
        strict: raise instead of quarantining.

    Returns:
        A :class:`PriceIngest`.

    Raises:
        DataError: a file is unreadable or has an unknown layout; or, with ``strict``, any row
            would be quarantined.
        ConfigError: a ``column_map`` target is not a canonical name, ``jump_threshold``
            is not a number > 0, or ``start``/``end`` is not a date or ``start`` is after
            ``end``.
    """
    dialect = dialect or CsvDialect()
    mapping = _check_column_map(column_map or {})
    if (
        isinstance(jump_threshold, bool)
        or not isinstance(jump_threshold, (int, float))
        or not 0 < jump_threshold < float("inf")
    ):
        raise ConfigError(
            "`jump_threshold` must be a number > 0 (a one-day |log return|). "
            f"Received: jump_threshold={jump_threshold!r}"
        )
    start_ts, end_ts = (_local_day(n, b, exchange_tz) for n, b in (("start", start), ("end", end)))
    if start_ts is not None and end_ts is not None and start_ts > end_ts:
        raise ConfigError(
            f"`start` must be on or before `end`. Received: start={start!r}, end={end!r}"
        )
    files = list_price_files(source)
    folder = Path(str(source)).expanduser()
    folders: list[str] = []
    if folder.is_dir():
        entries = sorted(folder.iterdir())
        skipped = [str(p) for p in entries if p.is_file() and not _is_supported(p)]
        folders = [str(p) for p in entries if p.is_dir() and not p.name.startswith(".")]
    elif _is_glob(str(source)):
        skipped = [str(p) for p in _glob_files(str(source)) if not _is_supported(p)]
    else:
        skipped = []
    repairs: Counter[str] = Counter()
    long = pa.concat_tables(
        [_read_one(path, mapping, dialect, exchange_tz, repairs) for path in files]
    ).to_pandas()
    # A row whose date cannot be read belongs with the dated row above it in its file (or the
    # one below, at the top), so every run over a range reads it exactly once; only a file with
    # no readable date at all has its undated rows in every range.
    anchor = long["date"]
    if anchor.isna().any():  # grouping 2.5M rows by file costs ~0.2 s; skip it when all dated
        by_file = long["date"].groupby(long["source_file"], sort=False)
        anchor = anchor.fillna(by_file.ffill()).fillna(by_file.bfill())
    in_range = anchor.notna()
    if start_ts is not None:
        in_range &= anchor >= start_ts
    if end_ts is not None:
        in_range &= anchor <= end_ts
    keep = in_range | anchor.isna()
    long = long[keep].reset_index(drop=True)
    long["anchor_date"] = anchor[keep].to_numpy()
    rows_read = len(long)

    # Tickers as integer codes in sorted order, made once: the sort, the unsorted and duplicate
    # checks, the jump flags and the missing sessions all work on them (each factorized the
    # 2.5M strings again before). As int64, NaT is the smallest day: undated rows sort first.
    codes, uniques = pd.factorize(long["ticker"], sort=True)
    ticker_names = np.asarray(uniques, dtype=object)  # the ticker of each code
    days = long["date"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    unsorted = _unsorted_tickers(codes, days, long["date"].notna().to_numpy())
    if unsorted:
        repairs["tickers_sorted_by_date"] += unsorted
    order = np.lexsort((days, codes))  # stable: by ticker, then date, then as read
    long = long.take(order).reset_index(drop=True)
    codes, days = codes[order], days[order]

    _apply_splits(long, list(splits), repairs)

    reason = pd.Series(pd.NA, index=long.index, dtype="object")
    reason[long["date"].isna()] = "unparseable_date"
    sessions = _session_days(trading_days) if trading_days is not None else None
    if sessions is not None:
        reason[reason.isna() & ~long["date"].isin(sessions)] = "non_trading_day"
    no_price = reason.isna() & long["adj_close"].isna()
    # A line set aside for its field count holds more than a date: its price may be there but
    # not where the header says (an unquoted 1,234.5), so "missing" would mislead.
    reason[no_price & (long["other_reason"] == "wrong_field_count")] = "wrong_field_count"
    # Text in the price cell that is not a number, as in the other columns; only the cells
    # that mean "no value" (empty, null, NaN, -, ...) are a missing price.
    cells = long.loc[no_price & (long["column"] != _WHOLE_LINE), "raw_value"]  # few rows
    said = cells.fillna("").str.strip().str.lower()
    reason[said.index[~said.isin(_MISSING_TEXTS)]] = "unparseable_number"
    reason[reason.isna() & no_price] = "missing_price"
    reason[reason.isna() & ~np.isfinite(long["adj_close"])] = "non_finite_price"
    reason[reason.isna() & (long["adj_close"] <= 0)] = "non_positive_price"
    other = reason.isna() & long["other_reason"].notna()
    reason[other] = long.loc[other, "other_reason"]
    long.loc[other, "column"] = long.loc[other, "other_column"]
    long.loc[other, "raw_value"] = long.loc[other, "other_raw_value"]
    # A row that is otherwise fine but has an empty ticker cell (long tables) is quarantined:
    # accepted, such rows of several tickers would be pooled into one history named ''.
    blank = np.array([not str(t).strip() for t in ticker_names] + [True])  # last: code -1
    reason[reason.isna() & blank[codes]] = "missing_ticker"
    usable = reason.isna()
    # Rows are sorted by (ticker, date), so a usable row repeating the previous usable row's
    # key is a duplicate; the first one read is kept.
    kept = np.flatnonzero(usable.to_numpy())
    repeat = (codes[kept][1:] == codes[kept][:-1]) & (days[kept][1:] == days[kept][:-1])
    duplicated = kept[1:][repeat]
    reason[duplicated] = "duplicate_date"
    across: dict[str, list[str]] = {}
    if len(duplicated):
        repairs["duplicate_rows_dropped"] += len(duplicated)
        # Only when there are duplicates: which tickers got them from more than one file.
        candidates = long[usable]
        twins = candidates[candidates.duplicated(["ticker", "date"], keep=False)]
        file_order = {str(p): i for i, p in enumerate(files)}
        for (ticker, _), names in twins.groupby(["ticker", "date"], sort=True)["source_file"]:
            if names.nunique() > 1:  # this date of this ticker comes from several files
                known = set(across.get(str(ticker), [])) | set(names)
                across[str(ticker)] = sorted(
                    known, key=lambda n: file_order.get(n, len(file_order))
                )

    bad = reason.notna()
    price_codes = codes[~bad.to_numpy()]
    quarantine = long.loc[bad].assign(reason=reason[bad].astype(str))
    no_raw = quarantine["raw_value"].isna()
    quarantine.loc[no_raw, "raw_value"] = [_render(v) for v in quarantine.loc[no_raw, "adj_close"]]
    no_date = quarantine["raw_date"].isna()
    quarantine.loc[no_date, "raw_date"] = quarantine.loc[no_date, "date"].dt.strftime("%Y-%m-%d")
    # an undated row is filed on the date of its neighbour row (raw_date keeps its text)
    quarantine["date"] = quarantine["date"].fillna(quarantine["anchor_date"])
    quarantine = quarantine[["date", *QUARANTINE_COLUMNS]].reset_index(drop=True)
    prices = long.loc[~bad, ["date", *PRICE_COLUMNS]].reset_index(drop=True)

    if strict and len(quarantine):
        first = quarantine.iloc[0]
        raise DataError(
            f"Strict ingest: {len(quarantine)} of {rows_read} rows would be quarantined "
            f"{dict(sorted(Counter(quarantine['reason']).items()))}; first: file "
            f"{first['source_file']!r} line {first['row_number']} ticker {first['ticker']!r} "
            f"date {first['raw_date']!r} column {first['column']!r} value {first['raw_value']!r} "
            f"({first['reason']})."
        )
    return PriceIngest(
        prices=prices,
        quarantine=quarantine,
        rows_read=rows_read,
        repairs=dict(sorted(repairs.items())),
        flags=_flag_jumps(prices, price_codes, jump_threshold),
        missing_sessions=_missing_sessions(prices, price_codes, ticker_names, sessions),
        files=[str(p) for p in files],
        files_skipped=skipped,
        folders_skipped=folders,
        duplicates_across_files=across,
    )


# ----------------------------------------------------------------------------- reading


def _is_supported(path: Path) -> bool:
    name = path.name.lower()
    return not name.startswith((".", "_")) and name.endswith(SUPPORTED_SUFFIXES)


def _ticker_from_name(path: Path) -> str:
    name = path.name
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _normalise_header(name: object) -> str:
    return re.sub(r"[\s_\-<>.]+", "", str(name).strip().lstrip("\ufeff").lower())


def _check_column_map(column_map: Mapping[str, str]) -> dict[str, str]:
    for header, target in column_map.items():
        if target not in CANONICAL:
            raise ConfigError(
                f"`column_map` targets must be among {CANONICAL}. "
                f"Received: column_map[{header!r}]={target!r}"
            )
    return {_normalise_header(h): t for h, t in column_map.items()}


def _read_table(
    path: Path, dialect: CsvDialect
) -> tuple[pa.Table, list[tuple[int, str]], list[int]]:
    """Read a file; CSV lines with the wrong number of fields come back separately as
    ``(line number, text)`` so they can be quarantined instead of failing the whole file, and
    the numbers of every line skipped (those and blank ones) so kept rows keep their numbers."""
    malformed: list[tuple[int, str]] = []
    blank: list[int] = []

    def keep_aside(row: pacsv.InvalidRow) -> str:
        number = int(row.number) if row.number is not None else -1
        if row.text.strip():  # blank lines are not rows; they only keep line numbers right
            malformed.append((number, row.text))
        else:
            blank.append(number)
        return "skip"

    encoding = _encoding(path, dialect)

    def read(use_threads: bool) -> pa.Table:
        # pyarrow decompresses by the name's suffix in lower case only (a.CSV.GZ came out raw)
        return pacsv.read_csv(
            pa.input_stream(str(path), compression="gzip") if _gzipped(path) else path,
            read_options=pacsv.ReadOptions(use_threads=use_threads, encoding=encoding),
            parse_options=pacsv.ParseOptions(
                delimiter=dialect.delimiter,
                invalid_row_handler=keep_aside,
                ignore_empty_lines=False,
            ),
            convert_options=pacsv.ConvertOptions(
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                decimal_point=dialect.decimal,
                timestamp_parsers=_TIMESTAMPS_STAY_TEXT,
            ),
        )

    try:
        if path.name.lower().endswith(".parquet"):
            return pq.read_table(path), malformed, []
        table = read(use_threads=True)
        if malformed or blank:
            # The threaded reader does not know line numbers; read again to name the lines.
            malformed.clear()
            blank.clear()
            table = read(use_threads=False)
        skipped = sorted([n for n, _ in malformed] + blank)
        table.column_names  # noqa: B018 (decodes the header: a bad byte there raises here)
    except (UnicodeDecodeError, OSError, pa.ArrowInvalid) as exc:
        # A bad byte in the header, in the transcoder, or on a line pyarrow sets aside (it
        # decodes the line for the handler, fails, and says only "Expected 2 columns").
        found = _undecodable_line(path, encoding)
        if found is not None:
            raise _not_text(path, f"line {found[0]}", encoding, found[1]) from exc
        raise DataError(f"Cannot read price file {str(path)!r}: {exc}") from exc
    _check_text(path, table, skipped, encoding)
    return table, malformed, skipped


_ENCODING_HINT = "Set the price source's encoding (e.g. latin-1 or cp1252), or save it as UTF-8."
# UTF-32's marks first: UTF-32-LE's begins with UTF-16-LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _not_text(path: Path, where: str, encoding: str, exc: UnicodeDecodeError) -> DataError:
    bad = exc.object[max(exc.start - 10, 0) : exc.end + 10]
    return DataError(
        f"Cannot read price file {str(path)!r}: {where} is not {encoding} text ({exc.reason} "
        f"in {bytes(bad)!r}). {_ENCODING_HINT}"
    )


def _gzipped(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _open_bytes(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when its name ends in .gz (in any case)."""
    return gzip.open(path, "rb") if _gzipped(path) else open(path, "rb")


def _undecodable_line(path: Path, encoding: str) -> tuple[int, UnicodeDecodeError] | None:
    """The number of the first line (from 1) that is not `encoding` text, and why; None if
    every line is, or lines cannot be split before decoding (UTF-16, UTF-32)."""
    if codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        return None
    try:
        with _open_bytes(path) as fh:
            data = fh.read()  # the error path only
    except (OSError, EOFError):
        return None
    # a line ends where pyarrow's reader ends it: \r\n, \n or a bare \r
    for number, line in enumerate(re.split(rb"\r\n|\n|\r", data), 1):
        try:
            line.decode(encoding)
        except UnicodeDecodeError as exc:
            return number, exc
    return None


def _encoding(path: Path, dialect: CsvDialect) -> str:
    """The dialect's encoding, unless the file starts with a UTF-16 or UTF-32 byte order mark."""
    try:
        with _open_bytes(path) as fh:
            head = fh.read(4)
    except (OSError, EOFError):  # not gzip after all, unreadable: the reader says why
        return dialect.encoding
    return next((name for bom, name in _BOMS if head.startswith(bom)), dialect.encoding)


def _check_text(path: Path, table: pa.Table, skipped: list[int], encoding: str) -> None:
    """Raises a DataError naming the line and column of the first cell that is not text.

    pyarrow keeps a column with bytes the encoding cannot decode as binary; read on, it would
    fail far from here without naming the file.
    """
    for name, column in zip(table.column_names, table.columns, strict=True):
        if not pa.types.is_binary(column.type) and not pa.types.is_large_binary(column.type):
            continue
        for row, value in enumerate(column.to_pylist()):
            try:
                value.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = row + 2  # the header is line 1
                for number in skipped:  # blank and set-aside lines have no row
                    line += number <= line
                raise _not_text(path, f"line {line}, column {name!r}", encoding, exc) from exc


def _malformed_frame(
    malformed: list[tuple[int, str]],
    date_index: int,
    tickers: list[str],
    ticker_index: int | None,
    source: str,
    dialect: CsvDialect,
    exchange_tz: str,
    repairs: Counter[str],
) -> pd.DataFrame:
    """Rows for CSV lines with a wrong field count: no usable price, raw line kept."""
    records = []
    for number, text in malformed:
        fields = text.split(dialect.delimiter)
        raw_date = fields[date_index].strip() if date_index < len(fields) else ""
        if ticker_index is not None:
            names = [fields[ticker_index].strip() if ticker_index < len(fields) else ""]
        else:
            names = tickers
        # a line of a date alone has no price; any other is quarantined for its field count
        why = "wrong_field_count" if len(fields) > 1 else None
        for name in names:
            records.append((name, number, raw_date, text, why))
    if not records:
        return _LONG_SCHEMA.empty_table()
    names, numbers, raw_dates, texts, whys = (list(x) for x in zip(*records, strict=True))
    dates, _ = _parse_dates(
        pa.chunked_array([pa.array(raw_dates, pa.string())]), dialect, exchange_tz, repairs
    )
    n = len(records)
    return _long_table(
        n,
        date=dates,
        ticker=pa.array(names, pa.string()),
        source_file=source,
        row_number=numbers,
        column=_WHOLE_LINE,
        raw_date=pa.array(raw_dates, pa.string()),
        raw_value=pa.array(texts, pa.string()),
        other_reason=pa.array(whys, pa.string()),
    )


_WHOLE_LINE = "<whole line>"  # the `column` of a row quarantined for its whole CSV line


def _long_table(n: int, **columns: object) -> pa.Table:
    """A table of ``_LONG_SCHEMA`` with ``n`` rows; a ``str`` is repeated on every row and a
    column not given is empty (NaN for prices, null for texts)."""
    arrays = []
    for f in _LONG_SCHEMA:
        value = columns.pop(f.name, None)
        if value is None:
            arrays.append(pa.repeat(np.nan, n) if f.type == pa.float64() else pa.nulls(n, f.type))
        elif isinstance(value, str):
            arrays.append(pa.repeat(pa.scalar(value, f.type), n))
        elif isinstance(value, (pa.Array, pa.ChunkedArray)):
            arrays.append(value.cast(f.type))
        else:  # numpy: NaT is a missing date, NaN stays a (non-null) float
            arrays.append(pa.array(value, f.type, from_pandas=f.type == pa.timestamp("ns")))
    if columns:
        raise TypeError(f"Unknown long-table columns: {sorted(columns)}")
    return pa.Table.from_arrays(arrays, schema=_LONG_SCHEMA)


def _read_one(
    path: Path,
    mapping: dict[str, str],
    dialect: CsvDialect,
    exchange_tz: str,
    repairs: Counter[str],
) -> pa.Table:
    table, malformed, skipped_lines = _read_table(path, dialect)
    names = table.column_names
    _check_headers(path, names)
    roles: dict[str, str] = {}
    for name in names:
        key = _normalise_header(name)
        role = mapping.get(key) or _ALIASES.get(key)
        if role is not None and role not in roles:
            roles[role] = name
    found = [str(n) for n in names]
    if "date" not in roles:
        other = sorted({d for n in found for d in ";\t|" if d in n} - {dialect.delimiter})
        hint = (
            f" The header holds {other[0]!r}: set the source's delimiter to it."
            if other
            else " Map your headers with the source's column_map."
        )
        raise DataError(
            f"Unknown price file layout in {str(path)!r}: no date column "
            f"(expected a header such as Date, Datetime or <DATE>). Found columns: {found}." + hint
        )
    row_numbers = np.arange(table.num_rows, dtype=np.int64) + 2  # file line; header is line 1
    # Lines after a skipped one moved up; recover each kept row's own line number.
    for line in skipped_lines:
        if line > 0:
            row_numbers[row_numbers >= line] += 1
    blank = _blank_rows(table)
    if blank.any():
        # Empty lines are not rows: drop them (their numbers stay, so later lines keep theirs).
        repairs["blank_lines_skipped"] += int(blank.sum())
        table = table.filter(pa.array(~blank))
        row_numbers = row_numbers[~blank]
    source = str(path)
    dates, raw_dates = _parse_dates(
        table.column(roles["date"]),
        dialect,
        exchange_tz,
        repairs,
        where=f"column {roles['date']!r} of {source!r}",
    )

    price_roles = [r for r in ("close", "adj_close") if r in roles]
    ticker_index = names.index(roles["ticker"]) if "ticker" in roles else None
    if "ticker" in roles and price_roles:
        cells = _text(table.column(roles["ticker"]))
        # ' AAPL' and 'AAPL ' are AAPL (a wide header or a bad line's ticker is stripped too);
        # a blank cell stays as written, to be quarantined as missing_ticker
        trimmed = pc.utf8_trim_whitespace(cells)
        tickers: pa.ChunkedArray | str = pc.if_else(pc.equal(trimmed, ""), cells, trimmed)
        padded = int(pc.sum(pc.not_equal(cells, tickers)).as_py() or 0)
        if padded:
            repairs["ticker_whitespace_stripped"] += padded
        frame = _long_frame(table, roles, dates, raw_dates, tickers, row_numbers, source, dialect)
        file_tickers: list[str] = []
    elif price_roles or _single_value_column(names, roles) is not None:
        if not price_roles:
            value = _single_value_column(names, roles)
            roles = {**roles, "adj_close": value, "close": value}
        file_tickers = [_ticker_from_name(path)]
        tickers = file_tickers[0]
        frame = _long_frame(table, roles, dates, raw_dates, tickers, row_numbers, source, dialect)
    else:
        value_cols = _value_columns(names, roles)
        if not value_cols:
            raise DataError(
                f"Unknown price file layout in {str(path)!r}: a date column but no price column "
                f"(expected Close / Adj Close, a ticker column with prices, or one column per "
                f"ticker). Found columns: {found}."
            )
        file_tickers = [str(c).strip() for c in value_cols]
        frame = _wide_frame(table, value_cols, dates, raw_dates, row_numbers, source, dialect)
    if not malformed:
        return frame
    bad = _malformed_frame(
        malformed,
        names.index(roles["date"]),
        file_tickers,
        ticker_index,
        source,
        dialect,
        exchange_tz,
        repairs,
    )
    # In line order, so an undated bad line is filed with the dated row above it (the anchor
    # fill runs down the file), not after the file's last row. Arrow's sort is stable: a wide
    # row's tickers keep their order.
    return pa.concat_tables([frame, bad]).sort_by("row_number")


def _blank_rows(table: pa.Table) -> np.ndarray:
    """Rows whose every cell is empty (blank lines in a CSV)."""
    blank = np.ones(table.num_rows, dtype=bool)
    for column in table.columns:
        if pa.types.is_string(column.type):
            empty = column.to_pandas().fillna("").str.strip().eq("").to_numpy()
        else:
            empty = column.is_null().to_numpy(zero_copy_only=False)
        blank &= empty
        if not blank.any():
            break
    return blank


def _check_headers(path: Path, names: list[str]) -> None:
    found = [str(n) for n in names]
    unnamed = [
        i for i, n in enumerate(names) if not str(n).strip() or str(n).startswith("Unnamed:")
    ]
    if unnamed:
        raise DataError(
            f"Column {unnamed[0] + 1} of {str(path)!r} has no header name (a saved index?). "
            f"Name it or drop it. Found columns: {found}."
        )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(
                f"Column {name!r} appears twice in {str(path)!r}. Found columns: {found}."
            )
        seen.add(name)


def _value_columns(names: list[str], roles: dict[str, str]) -> list[str]:
    known = {_normalise_header(n) for n in roles.values()} | _IGNORED
    return [n for n in names if _normalise_header(n) not in known and n != roles["date"]]


def _single_value_column(names: list[str], roles: dict[str, str]) -> str | None:
    values = _value_columns(names, roles)
    return values[0] if len(values) == 1 and "ticker" not in roles else None


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as text, missing cells as empty text."""
    values = column.cast(pa.string()) if not pa.types.is_string(column.type) else column
    return values.fill_null("")


def _as_text(column: pa.ChunkedArray) -> np.ndarray:
    """:func:`_text` as a numpy array of Python strings."""
    return np.asarray(_text(column).to_pandas().to_numpy(dtype=object))


def _parse_dates(
    column: pa.ChunkedArray,
    dialect: CsvDialect,
    exchange_tz: str,
    repairs: Counter[str],
    where: str = "the date column",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Trading dates (datetime64[ns] at midnight, NaT when unreadable) and, for text, raw texts."""
    # A day a datetime64[ns] cannot hold (before 1677 or after 2262) is an unparseable date; in
    # a typed column that cell, and only it, gets its text as the raw date.
    kind = column.type
    if pa.types.is_date(kind):
        # In numpy, through int days: to_pandas makes a Python date per cell, and a Series of
        # days cost ~3 ms a file in pandas' frequency inference (normalize) alone.
        null = column.is_null().to_numpy(zero_copy_only=False)
        days = column.cast(pa.date32()).cast(pa.int32()).fill_null(0).to_numpy()
        days = days.astype(np.int64)
        held = ~null & (days >= _NS_FIRST_DAY) & (days <= _NS_LAST_DAY)
        out = np.where(held, days, 0).astype("datetime64[D]").astype("datetime64[ns]")
        out[~held] = np.datetime64("NaT")
        lost = ~held & ~null
        if not lost.any():
            return out, None
        raw_dates = np.full(len(out), None, dtype=object)
        raw_dates[lost] = _as_text(column)[lost]
        return out, raw_dates
    if pa.types.is_timestamp(kind):
        series = column.to_pandas()
        if series.dt.tz is not None:
            # the day comes from the zone, so the stamp as written is the raw date
            series = _aware_days(series.dt.tz_localize(None), series, exchange_tz, repairs)
            return _ns(series).to_numpy(dtype="datetime64[ns]"), _as_text(column)
        out = _ns(series.dt.normalize())
        lost = out.isna().to_numpy() & series.notna().to_numpy()
        if not lost.any():
            return out.to_numpy(dtype="datetime64[ns]"), None
        raw_dates = np.full(len(out), None, dtype=object)
        raw_dates[lost] = _as_text(column)[lost]
        return out.to_numpy(dtype="datetime64[ns]"), raw_dates

    raw = pd.Series(_as_text(column), dtype=object).str.strip()
    if dialect.date_format:
        offsets = "%z" in dialect.date_format or "%Z" in dialect.date_format
        parsed = _with_format(raw, dialect.date_format, offsets)
        if parsed.dt.tz is not None:  # a %z format: the same rule as for ISO texts
            wall = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
            fmt = dialect.date_format.rstrip()
            if fmt[-2:] in _END_OF:  # elsewhere in the format: the instant decides
                wall_text = raw.str.replace(_END_OF[fmt[-2:]], "", regex=True).str.strip()
                wall = pd.to_datetime(wall_text, format=fmt[:-2].rstrip(), errors="coerce")
            parsed = _aware_days(wall, parsed, exchange_tz, repairs)
        return _ns(parsed.dt.normalize()).to_numpy(dtype="datetime64[ns]"), raw.to_numpy()
    if pa.types.is_integer(kind) or raw.str.fullmatch(r"\d{8}").all():
        parsed = pd.to_datetime(raw, format="%Y%m%d", errors="coerce")
        return _ns(parsed).to_numpy(dtype="datetime64[ns]"), raw.to_numpy()

    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    aware = raw.str.contains(_TZ_SUFFIX, na=False)
    if aware.any():
        wall_text = raw[aware].str.replace(_OFFSET, "", regex=True).str.strip()
        zone = raw[aware].str.extract(_OFFSET, expand=False).str.upper()
        zone = zone.replace({"Z": "+00:00", "UTC": "+00:00", "GMT": "+00:00"})
        stamps = pd.to_datetime(wall_text + zone, format="ISO8601", utc=True, errors="coerce")
        wall = pd.to_datetime(wall_text, format="ISO8601", errors="coerce")
        out[aware] = _ns(_aware_days(wall, stamps, exchange_tz, repairs))
    naive = ~aware
    if naive.any():
        parsed = _naive_iso(raw[naive])
        retry = parsed.isna() & (raw[naive] != "")
        if retry.any():
            parsed[retry] = _parse_other_format(raw[naive][retry], where)
        out[naive] = _ns(parsed.dt.normalize())
    return out.to_numpy(dtype="datetime64[ns]"), raw.to_numpy()


def _with_format(texts: pd.Series, fmt: str, utc: bool) -> pd.Series:
    """`texts` read with a declared format; NaT where a cell does not fit it.

    A %Z cell naming no zone pandas knows (`utc` in lower case) raises instead of coercing;
    then the cells are read one by one, so only those are left unread.
    """
    try:
        return pd.to_datetime(texts, format=fmt, errors="coerce", utc=utc)
    except (ValueError, KeyError, TypeError):  # KeyError: zoneinfo's ZoneInfoNotFoundError
        pass

    def one(text: str) -> pd.Timestamp:
        try:
            return pd.to_datetime(text, format=fmt, utc=utc)
        except (ValueError, KeyError, TypeError, OverflowError):
            return pd.NaT

    cells = pd.Series([one(t) for t in texts], index=texts.index, dtype=object)
    return pd.to_datetime(cells, utc=utc)


def _naive_iso(texts: pd.Series) -> pd.Series:
    """ISO dates and times with no offset; NaT for any other text.

    A cell with an offset in a form the aware rule above does not know would make pandas
    return aware values (or fail on "mixed timezones"); such cells are left unread, cell by
    cell, so they are quarantined with their text instead of failing the file or moving a day.
    """
    try:
        parsed = pd.to_datetime(texts, format="ISO8601", errors="coerce")
        if parsed.dt.tz is None:
            return parsed
    except (ValueError, TypeError):
        pass

    def one(text: str) -> pd.Timestamp:
        try:
            stamp = pd.to_datetime(text, format="ISO8601")  # other forms: one format a column
        except (ValueError, TypeError, OverflowError):
            return pd.NaT
        return pd.NaT if stamp is pd.NaT or stamp.tzinfo is not None else stamp

    return pd.Series([one(t) for t in texts], index=texts.index, dtype="datetime64[ns]")


def _aware_days(
    wall: pd.Series, stamps: pd.Series, exchange_tz: str, repairs: Counter[str]
) -> pd.Series:
    """The days of timezone-aware timestamps, given each one's wall time in its own offset.

    A stamp at midnight in its own offset is a date label: a daily bar exported as
    2021-03-01T00:00:00Z is 1 March's bar, and its day is the day written (counted as
    `midnight_offset_ignored`). Any other time is an instant, and its day is the exchange-local
    day (`timezone_normalised`): 2021-03-02T01:00:00Z is 1 March in New York. Converting a
    midnight label instead would file 1 March's prices on 28 February, a day before they existed.

    Args:
        wall: naive wall times, NaT where unknown (then the instant decides).
        stamps: the same values as aware timestamps.
    """
    local = stamps.dt.tz_convert(exchange_tz).dt.tz_localize(None).dt.normalize()
    label = wall.notna() & stamps.notna() & (wall == wall.dt.normalize())
    for name, count in (
        ("midnight_offset_ignored", int(label.sum())),
        ("timezone_normalised", int((~label & local.notna()).sum())),
    ):
        if count:
            repairs[name] += count
    return local.where(~label, wall)


_NS_FIRST, _NS_LAST = pd.Timestamp.min.ceil("D"), pd.Timestamp.max.floor("D")
# The same bounds as days since 1970-01-01, for date columns handled in numpy.
_NS_FIRST_DAY, _NS_LAST_DAY = ((d - pd.Timestamp(0)).days for d in (_NS_FIRST, _NS_LAST))


def _local_day(name: str, bound: object, exchange_tz: str) -> pd.Timestamp | None:
    """A ``start``/``end`` bound as a naive day; an aware one as its exchange-local day."""
    if bound is None:
        return None
    try:
        stamp = pd.Timestamp(bound)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ConfigError(
            f"`{name}` must be a date such as '2021-03-01'. Received: {name}={bound!r} ({exc})"
        ) from exc
    if stamp is pd.NaT:
        raise ConfigError(
            f"`{name}` must be a date such as '2021-03-01'. Received: {name}={bound!r}"
        )
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(exchange_tz).tz_localize(None)
    return stamp.normalize()  # bounds are days: a time of day never drops its own day


def _ns(days: pd.Series) -> pd.Series:
    """``days`` as datetime64[ns]; one that type cannot hold becomes NaT."""
    return days.where((days >= _NS_FIRST) & (days <= _NS_LAST)).astype("datetime64[ns]")


def _parse_other_format(texts: pd.Series, where: str) -> pd.Series:
    """Parse non-ISO dates with the one format that reads most of them, never cell by cell.

    Reading each cell with its own guess would put 01/02 on 2 January in one row and 1 February
    in the next; a wrong date moves a price in time. So one format is chosen for the column
    (values it cannot read are quarantined), and when two formats read equally many values but
    disagree on one (day-first vs month-first) it is an error.
    """
    best: list[tuple[str, pd.Series]] = []
    best_count = 0
    for fmt in _DATE_FORMATS:
        attempt = pd.to_datetime(texts, format=fmt, errors="coerce")
        count = int(attempt.notna().sum())
        if count > best_count:
            best, best_count = [(fmt, attempt)], count
        elif count == best_count and count > 0:
            best.append((fmt, attempt))
    if not best:
        return pd.Series(pd.NaT, index=texts.index, dtype="datetime64[ns]")
    first_fmt, first = best[0]
    for fmt, other in best[1:]:
        differ = (first != other) & first.notna() & other.notna()
        if differ.any():
            example = texts[differ].iloc[0]
            raise DataError(
                f"Ambiguous dates in {where}: {example!r} reads as {first_fmt} and as {fmt}. "
                "Set the price source's date_format (e.g. %d/%m/%Y)."
            )
    return first


def _to_number(
    column: pa.ChunkedArray, dialect: CsvDialect
) -> tuple[np.ndarray, np.ndarray | None]:
    """Float values (NaN where a cell is not a number) and, for text columns, the raw texts."""
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return column.to_numpy(zero_copy_only=False).astype(float), None
    if pa.types.is_decimal(column.type):
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False), None
    raw = pd.Series(_as_text(column), dtype=object)
    text = raw.str.strip()
    if dialect.thousands:
        text = text.str.replace(dialect.thousands, "", regex=False)
    if dialect.decimal == ",":
        text = text.str.replace(",", ".", regex=False)
    values = pd.to_numeric(text, errors="coerce").astype(float)
    suffixed = values.isna() & text.str.match(_NUMBER_WITH_SUFFIX, na=False)
    if suffixed.any():
        parts = text[suffixed].str.extract(_NUMBER_WITH_SUFFIX)
        scale = parts[1].str.upper().map(_SUFFIX_MULTIPLIERS)
        values[suffixed] = parts[0].astype(float) * scale
    return values.to_numpy(), raw.to_numpy()


def _not_a_number(raw: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A check for `_long_frame`: NaN from a cell whose text is not a missing marker."""

    def check(values: np.ndarray) -> np.ndarray:
        nan = np.isnan(values)
        if not nan.any():
            return nan
        texts = pd.Series(raw[nan], dtype=object).fillna("").str.strip().str.lower()
        nan[nan] = ~texts.isin(_MISSING_TEXTS).to_numpy()
        return nan

    return check


def _long_frame(
    table: pa.Table,
    roles: dict[str, str],
    dates: np.ndarray,
    raw_dates: np.ndarray | None,
    tickers: pa.ChunkedArray | str,
    row_numbers: np.ndarray,
    source: str,
    dialect: CsvDialect,
) -> pa.Table:
    n = table.num_rows
    values: dict[str, np.ndarray] = {}
    raws: dict[str, np.ndarray | None] = {}
    for role in ("open", "high", "low", "close", "adj_close", "volume"):
        if role in roles:
            values[role], raws[role] = _to_number(table.column(roles[role]), dialect)
        else:
            values[role] = np.full(n, np.nan)
    price_role = "adj_close" if "adj_close" in roles else "close"
    if price_role == "close":
        values["adj_close"] = values["close"]
    # A bad adjusted close is quarantined, never replaced by the close: in vendor files the close
    # is unadjusted, so the swap would put a false jump into the returns.
    price_col = roles[price_role]
    # Impossible values in the other columns the file gives (text that is not a number, an
    # infinite or non-positive open, high, low or close, a negative volume) quarantine the row
    # too, naming that column. Empty cells there are kept as missing: features use the
    # adjusted close only.
    other_reason = np.full(n, None, dtype=object)
    other_column = np.full(n, None, dtype=object)
    other_raw = np.full(n, None, dtype=object)
    others = [
        r for r in ("open", "high", "low", "close", "volume") if r in roles and r != price_role
    ]
    checks = [
        (role, _not_a_number(raws[role]), "unparseable_number")
        for role in others
        if raws[role] is not None
    ]
    checks += [
        (role, check, why)
        for role in others
        if role != "volume"
        for check, why in ((np.isinf, "non_finite_price"), (lambda v: v <= 0, "non_positive_price"))
    ]
    if "volume" in others:
        checks.append(("volume", lambda v: v < 0, "negative_volume"))
    for role, check, why in checks:
        with np.errstate(invalid="ignore"):
            hit = check(values[role]) & (other_reason == None)  # noqa: E711 (elementwise)
        if hit.any():
            other_reason[hit] = why
            other_column[hit] = roles[role]
            raw = raws[role]
            other_raw[hit] = (
                raw[hit] if raw is not None else [_render(v) for v in values[role][hit]]
            )
    hits = other_reason != None  # noqa: E711 (elementwise)
    return _long_table(
        n,
        date=dates,
        ticker=tickers,
        **values,
        source_file=source,
        row_number=row_numbers,
        column=str(price_col),
        # Numeric cells are re-rendered only for the rows that end up quarantined.
        raw_date=raw_dates,
        raw_value=raws.get(price_role),
        **(
            {
                "other_reason": other_reason,
                "other_column": other_column,
                "other_raw_value": other_raw,
            }
            if hits.any()
            else {}
        ),
    )


def _wide_frame(
    table: pa.Table,
    value_cols: list[str],
    dates: np.ndarray,
    raw_dates: np.ndarray | None,
    row_numbers: np.ndarray,
    source: str,
    dialect: CsvDialect,
) -> pa.Table:
    n, k = table.num_rows, len(value_cols)
    parsed = [_to_number(table.column(c), dialect) for c in value_cols]
    prices = np.concatenate([p for p, _ in parsed])
    raw_values = None
    if any(raw is not None for _, raw in parsed):
        raw_values = np.concatenate(
            [raw if raw is not None else np.full(n, None, dtype=object) for _, raw in parsed]
        )
    return _long_table(
        n * k,
        date=np.tile(dates, k),
        ticker=np.repeat(np.array([str(c).strip() for c in value_cols], dtype=object), n),
        close=prices,
        adj_close=prices,
        source_file=source,
        row_number=np.tile(row_numbers, k),
        column=np.repeat(np.array([str(c) for c in value_cols], dtype=object), n),
        raw_date=np.tile(raw_dates, k) if raw_dates is not None else None,
        raw_value=raw_values,
    )


def _render(value: float) -> str:
    if np.isnan(value):
        return ""
    return ("-inf" if value < 0 else "inf") if np.isinf(value) else f"{value:g}"


# ----------------------------------------------------------------------------- checks


def _apply_splits(long: pd.DataFrame, splits: list[Split], repairs: Counter[str]) -> None:
    for split in splits:
        before = (long["ticker"] == split.ticker) & (long["date"] < pd.Timestamp(split.date))
        if before.any():
            for col in ("open", "high", "low", "close", "adj_close"):
                long.loc[before, col] = long.loc[before, col] / split.ratio
            long.loc[before, "volume"] = long.loc[before, "volume"] * split.ratio
            repairs["rows_split_adjusted"] += int(before.sum())


def _session_days(trading_days: Iterable) -> pd.DatetimeIndex:
    """The sessions as days, each once. A session given with a time of day (an open at 09:30)
    or a time zone is its own calendar day; a session listed twice is one session (it used to
    count as a missing day twice, and a time of day made every row a non-trading day)."""
    days = pd.DatetimeIndex(trading_days)
    if days.tz is not None:
        days = days.tz_localize(None)
    return days.normalize().unique().sort_values()


def _unsorted_tickers(codes: np.ndarray, days: np.ndarray, dated: np.ndarray) -> int:
    """How many tickers have their dated rows out of date order, in the order they were read.

    ``codes`` are the rows' ticker codes and ``days`` their dates, in read order.
    """
    codes, days = codes[dated], days[dated]
    order = np.argsort(codes, kind="stable")  # each ticker's rows together, in read order
    codes, days = codes[order], days[order]
    down = (codes[1:] == codes[:-1]) & (days[1:] < days[:-1])
    return len(np.unique(codes[1:][down]))


def _flag_jumps(prices: pd.DataFrame, codes: np.ndarray, threshold: float) -> pd.DataFrame:
    """Suspected splits in ``prices`` (sorted by ticker, then date; ``codes`` its rows' ticker
    codes): big one-day moves."""
    if prices.empty:
        return pd.DataFrame(columns=list(FLAG_COLUMNS))
    log_price = np.log(prices["adj_close"].to_numpy(dtype=float))
    jump = np.full(len(prices), np.nan)
    jump[1:] = np.where(codes[1:] == codes[:-1], np.diff(log_price), np.nan)
    with np.errstate(invalid="ignore"):
        big = np.abs(jump) > threshold
    flagged = prices.loc[big, ["date", "ticker", "source_file"]].copy()
    flagged["kind"] = "suspected_split"
    flagged["value"] = np.exp(jump[big])  # the one-day price ratio
    return flagged[list(FLAG_COLUMNS)].reset_index(drop=True)


def _missing_sessions(
    prices: pd.DataFrame,
    codes: np.ndarray,
    names: np.ndarray,
    sessions: pd.DatetimeIndex | None,
) -> dict[str, int]:
    """Sessions missing inside each ticker's history, for tickers missing any.

    ``prices`` is sorted by ticker, then date, one row per (ticker, date); ``codes`` are its
    rows' positions in ``names`` (a row without a ticker is quarantined, never in ``prices``).
    """
    if sessions is None or prices.empty:
        return {}
    dates = prices["date"].to_numpy(dtype="datetime64[ns]")
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)] - 1  # each ticker's last row
    days = np.sort(sessions.to_numpy(dtype="datetime64[ns]"))
    inside = np.searchsorted(days, dates[ends], "right") - np.searchsorted(days, dates[starts])
    gaps = inside - (ends - starts + 1)
    return {str(names[c]): int(g) for c, g in zip(codes[starts], gaps, strict=True) if g > 0}
