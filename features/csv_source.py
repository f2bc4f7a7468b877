"""Reading one source export: file type, text encoding, separator, and row structure.

A CSV export is decoded strictly (a wrong encoding is a one-line error naming the file and
``--encoding``, never replacement characters), its separator is sniffed with quotes respected, and
every data record keeps its physical line number. Records whose field count differs from the
header, a line whose quote does not close its field (the lines after it are read on their own,
not swallowed into one field), and a last record cut off by a truncated file, carry a
*structural problem* that ingest turns into a quarantine reason.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import overload

import numpy as np
import pandas as pd
import pyarrow as pa

from features.mapping import IngestError
from features.values import fold_case


class EmptyExport(IngestError):
    """An export with no rows (0 bytes, or a header only): one of several files may be skipped."""


#: Separators the sniffer tries (a whitespace-aligned file is the fallback).
SEPARATORS = (",", ";", "\t", "|")
WHITESPACE = "whitespace"
#: Names accepted by ``--sep`` besides the characters themselves.
SEP_NAMES = {
    "comma": ",",
    "semicolon": ";",
    "tab": "\t",
    "\\t": "\t",
    "pipe": "|",
    "whitespace": WHITESPACE,
    "space": WHITESPACE,
}
ENCODING_HINT = (
    "pass --encoding (e.g. --encoding cp1252 for Western European Windows/Excel exports, "
    "--encoding latin-1, --encoding cp1250 for Central European (Polish, Czech), --encoding "
    "cp1251 for Cyrillic, --encoding gbk for Chinese, --encoding cp932 for Japanese, --encoding "
    "cp949 for Korean, --encoding cp1255 for Hebrew or --encoding cp874 for Thai exports)"
)
FIELD_COUNT = "field count differs from header"
TRUNCATED = "truncated last line"
UNCLOSED_QUOTE = 'a quote (") in this line does not close its field'  # later lines read again
SNIFF_LINES = 200
#: ``frame.attrs`` key: the header names that occur more than once.
REPEATED = "repeated_header_names"
PARQUET_SUFFIXES = {".parquet", ".pq"}


@dataclass
class SourceFile:
    """The text columns of one export plus where each record came from."""

    path: Path
    frame: pd.DataFrame  # every column string dtype, one row per data record
    problems: np.ndarray  # per record: None or a structural quarantine reason
    lines: np.ndarray  # per record: 1-based physical line where it starts (0 for Parquet)
    encoding: str | None = None
    sep: str | None = None
    notes: list[str] = field(default_factory=list)
    kind: str = "csv"  # or "parquet", "workbook" (``features.workbook_source``)
    warnings: list[str] = field(default_factory=list)  # said with the table's report
    _raw_lines: Sequence[str] = field(default_factory=list, repr=False)
    _record_spans: np.ndarray | list = field(default_factory=list, repr=False)  # (n, 2)

    def raw_record(self, index: int) -> str:
        """The source text of data record ``index`` (0-based), as it stands in the file."""
        if not len(self._record_spans):
            return ", ".join(f"{k}={v}" for k, v in self.frame.iloc[index].items())
        start, end = self._record_spans[index]
        return "".join(self._raw_lines[start:end]).rstrip("\r\n")


def normalise_sep(sep: str | None) -> str | None:
    """``--sep`` value to a separator character (or ``whitespace``); ``None`` means sniff."""
    if sep is None or sep == "" or sep == "auto":
        return None
    sep = SEP_NAMES.get(sep.lower(), sep)
    if sep != WHITESPACE and len(sep) != 1:
        raise IngestError(f"--sep {sep!r}: expected one character or one of {sorted(SEP_NAMES)}")
    return sep


def check_encoding(encoding: str | None) -> str | None:
    """Validate an ``--encoding`` name (``None``/``auto`` means detect)."""
    if encoding is None or encoding.lower() == "auto":
        return None
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise IngestError(
            f"--encoding {encoding!r}: unknown encoding; use utf-8, utf-8-sig, gbk, "
            "gb18030, cp932, cp949, cp874, latin-1, cp1252, cp1250, cp1251 or cp1255"
        ) from exc
    return encoding


def read_source(
    path: Path, encoding: str | None = None, sep: str | None = None, sheet: str | None = None
) -> SourceFile:
    """Read a CSV/TSV/whitespace, Parquet or workbook export (``sheet``: which one) with every
    column as text."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: file does not exist")
    if path.is_dir():
        raise IngestError(
            f"{path}: is a directory; expected an export file (CSV, Parquet or a workbook)"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not raw.strip():
        raise EmptyExport(f"{path}: file is empty; expected a header and at least one row")
    from features.packed_files import unpack
    from features.workbook_source import is_workbook, read_workbook

    unpacked = unpack(path, raw)
    del raw
    packed, name = unpacked.packed, Path(unpacked.name)
    if not unpacked.raw.strip():
        raise EmptyExport(f"{path}: the file packed in it is empty; expected a header and rows")
    content = unpacked.raw if packed else None  # else Parquet and workbooks read the path
    if name.suffix.lower() in PARQUET_SUFFIXES or unpacked.raw[:4] == b"PAR1":
        source = _read_parquet(path, content)
    elif is_workbook(unpacked.raw[:8]):
        source = read_workbook(path, sheet, content)
    else:
        _refuse_binary(path, unpacked.raw)
        text, used = _decode(path, unpacked.raw, check_encoding(encoding))
        del unpacked, content  # as large as the text: not kept while the text is parsed
        misread = _central_european_as_western(text, used)
        source = _parse_text_or_json(path, name, text, normalise_sep(sep))
        source.encoding = used
        if misread:  # in the progress line, before a column of the map is not found
            source.notes.append(misread)
    if packed:
        source.notes.insert(0, f"packed {packed}")
    return source


def _parse_text_or_json(path: Path, name: Path, text: str, sep: str | None) -> SourceFile:
    from features.json_source import is_json_export, parse_json_export

    if sep is None and is_json_export(name.name, text):
        return parse_json_export(path, text)
    return _parse_text(path, text, sep)


def _read_parquet(path: Path, content: bytes | None = None) -> SourceFile:
    import io

    try:
        frame = pd.read_parquet(path if content is None else io.BytesIO(content))
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise IngestError(f"{path}: not a readable Parquet file ({exc})") from exc
    for col in frame.columns[[pd.api.types.is_float_dtype(t) for t in frame.dtypes]]:
        # as text without exponents, which the number parser (like a CSV export) does not read:
        # 1e-05 -> 0.00001, 1e+16 -> 10000000000000000
        frame[col] = frame[col].map(positional_text, na_action="ignore").astype("object")
    frame = frame.astype("string")
    frame.columns = [clean_header(str(c)) for c in frame.columns]
    if frame.empty:
        raise EmptyExport(f"{path}: file has a header but no rows; expected at least one row")
    n = len(frame)
    return SourceFile(
        path, frame, np.full(n, None, dtype=object), np.zeros(n, dtype="int64"), kind="parquet"
    )


def positional_text(value: float) -> str:
    """A float as a CSV export writes it, without an exponent (1e-05 -> 0.00001)."""
    return np.format_float_positional(value, trim="-") if np.isfinite(value) else str(value)


def _refuse_binary(path: Path, raw: bytes) -> None:
    head = raw[:8]
    kinds = (
        (b"\x1f\x8b", "gzip-compressed twice", "decompress it first (gunzip)"),
        (b"BZh", "bzip2-compressed", "decompress it first"),
        (b"\xfd7zXZ", "xz-compressed", "decompress it first"),
    )
    for magic, what, fix in kinds:
        if head.startswith(magic):
            raise IngestError(
                f"{path}: is {what}, not a CSV text file or Parquet; {fix} and ingest that"
            )
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return  # UTF-16 with a byte-order mark: decoded below
    if b"\x00" in raw[:65536]:
        raise IngestError(
            f"{path}: contains binary data (NUL bytes), not CSV text; if it is UTF-16 "
            "text without a byte-order mark, pass --encoding utf-16-le"
        )


def _decode(path: Path, raw: bytes, encoding: str | None) -> tuple[str, str]:
    """Decode strictly; detect UTF-8 (with or without BOM), UTF-16 with BOM, CP949, CP1255, GBK,
    CP932 and CP874 when unambiguous."""
    marked = _byte_order_mark(raw)
    if encoding is None:
        encoding = marked
    elif marked is not None and _codec(encoding) != _codec(marked):
        try:  # a file that says it is Unicode, beside files of the --encoding given
            text = raw.decode(marked)
        except UnicodeDecodeError:
            pass
        else:
            return text.lstrip(
                "\ufeff"
            ), f"{marked} (its byte order mark; not --encoding {encoding})"
    if encoding is not None:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise IngestError(
                f"{path}: not valid {encoding} text ({_where(raw, exc)}); "
                f"{_other_encoding(raw, encoding)}"
            ) from exc
        return text.lstrip("\ufeff"), encoding
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        # Korean and Hebrew first: both also decode as GB18030 (every Hangul syllable of CP949
        # is a GB2312 character's two bytes), and neither is Chinese read as them
        for name, looks_like in (
            ("cp949", _looks_like_cp949),
            ("cp1255", _looks_like_cp1255),
            ("gb18030", _looks_like_gbk),
            ("cp932", _looks_like_cp932),
            ("cp874", _looks_like_cp874),
        ):
            if (decoded := looks_like(raw)) is not None:
                return decoded, f"{name} (detected)"
        raise IngestError(f"{path}: not UTF-8 text ({_where(raw, exc)}); {ENCODING_HINT}") from exc


#: A Polish letter of CP1250 read as CP1252 or Latin-1 inside a word: ą is ¹, ł ³, ż ¿
#: (``kupuj¹cego``, ``wys³ane``), which no Western word holds.
_CP1250_AS_WESTERN = re.compile(r"[A-Za-z]+[¹³¿][A-Za-z]+")


def _central_european_as_western(text: str, used: str) -> str | None:
    """A note when a file read as CP1252 or Latin-1 holds Polish letters so misread (a
    BaseLinker or Subiekt export, CP1250, with --encoding cp1252): its column names are not
    found as the map file spells them."""
    if _codec(used.split(" ")[0]) not in ("cp1252", "iso8859-1", "iso8859-15"):
        return None
    found = _CP1250_AS_WESTERN.search(text)
    if found is None:
        return None
    return (
        f"{found.group()!r}: cp1250 read as {used}? Central European text (Polish, Czech, "
        "Hungarian) needs --encoding cp1250"
    )


def _codec(encoding: str) -> str:
    """The codec an encoding name stands for (UTF-8 with or without its signature alike)."""
    return codecs.lookup(encoding).name.removesuffix("-sig")


def _byte_order_mark(raw: bytes) -> str | None:
    """The encoding a file's byte order mark says (UTF-8, UTF-16), if it starts with one."""
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    return None


def _other_encoding(raw: bytes, given: str) -> str:
    """What to pass instead of the ``--encoding`` given: nothing for a UTF-8 file (detected),
    another encoding otherwise."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"{ENCODING_HINT}, not --encoding {given}"
    return (
        f"the file is UTF-8: leave --encoding {given} out (UTF-8, GBK, CP932, CP949, CP1255 and "
        "CP874 are detected)"
    )


def _where(raw: bytes, exc: UnicodeDecodeError) -> str:
    line = raw.count(b"\n", 0, exc.start) + 1
    return f"line {line}: byte 0x{raw[exc.start]:02x}"


def _looks_like_gbk(raw: bytes) -> str | None:
    """Text decoded as GB18030 when (nearly) all its non-ASCII characters are common GB2312 Chinese.

    Western single-byte text (latin-1/cp1252) decoded as GBK yields rare characters outside GB2312,
    or Chinese characters inside Latin words, so it is not mistaken for Chinese; such a file
    needs ``--encoding``.
    """
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        return None
    wide = [i for i, ch in enumerate(text) if ord(ch) > 127]
    if not wide:
        return None
    common = 0
    for i in wide:
        try:
            text[i].encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    # Latin letters read as GBK pair up into Chinese characters inside Latin words ("Conceição"
    # reads "Concei玢o"); Chinese text puts them next to each other or to punctuation.
    if _inside_latin_words(text, wide):
        return None
    return text if common >= 0.98 * len(wide) else None


def _looks_like_cp949(raw: bytes) -> str | None:
    """Text decoded as CP949 (Korean EUC-KR as Windows writes it: Cafe24's, Naver SmartStore's,
    a Korean Excel's CSV) when its non-ASCII characters are Hangul syllables, of enough kinds to
    tell, making words of their own.

    Korean bytes read as GB18030 are all common GB2312 characters (Cafe24's 취소 cancelled reads
    "秒家"), so Korean is tried before Chinese. Chinese read as CP949 is Hanja or undefined
    wherever a character lies beyond the rows of Hangul (a Chinese text of a few words has
    such: 是, 中, 状态), so a file with Hanja is not taken, nor a handful of characters that
    could be either. Western text mostly does not decode; where it does (``Å`` and the next
    ASCII letter are one syllable), the syllables stand inside Latin words.
    """
    try:
        text = raw.decode("cp949")
    except UnicodeDecodeError:
        return None
    wide = [i for i, ch in enumerate(text) if ord(ch) > 127]
    hangul = [i for i in wide if "\uac00" <= text[i] <= "\ud7a3"]
    hanja = sum(HANJA.match(text[i]) is not None for i in wide)
    if len(hangul) < MIN_SCRIPT_SHARE * len(wide) or hanja > MAX_HANJA * len(wide):
        return None
    if len({text[i] for i in hangul}) < MIN_SYLLABLES or _touching_latin(text, hangul):
        return None
    return text


def _looks_like_cp1255(raw: bytes) -> str | None:
    """Text decoded as CP1255 (Hebrew as Windows writes it: an Israeli shop's or an accounting
    program's Excel CSV) when its non-ASCII characters are Hebrew letters (and the shekel sign)
    spelt as Hebrew is.

    CP1255's letters are the bytes of Western and Cyrillic lower-case letters (``é`` is י,
    ``ç`` ח, ``н`` ם): Western text read as Hebrew has its letters beside Latin ones
    (``Conceição`` reads "Conceiחדo"), Cyrillic puts final forms (ך ם ן ף ץ) inside words, and
    capitals of either are vowel points or undefined. Chinese and Korean bytes are mostly
    symbols, points or undefined in CP1255.
    """
    try:
        text = raw.decode("cp1255")
    except UnicodeDecodeError:
        return None
    wide = [i for i, ch in enumerate(text) if ord(ch) > 127]
    letters = [i for i in wide if "\u05d0" <= text[i] <= "\u05ea"]
    hebrew = len(letters) + sum(text[i] in HEBREW_SIGNS for i in wide)
    if not letters or hebrew < MIN_SCRIPT_SHARE * len(wide) or _touching_latin(text, letters):
        return None
    if _lone_letters(text, letters) > MAX_INSIDE_WORDS * len(letters):
        return None  # French 'à' alone ('retrait à J+1') is an alef alone: no Hebrew word
    finals = [i for i in letters if text[i] in HEBREW_FINALS]
    inside = sum(i + 1 < len(text) and "\u05d0" <= text[i + 1] <= "\u05ea" for i in finals)
    return text if inside <= 0.02 * len(finals) else None


#: Share of a file's non-ASCII characters that must be of the script CP949 (Hangul syllables) or
#: CP1255 (Hebrew letters) is detected by.
MIN_SCRIPT_SHARE = 0.9
#: Distinct Hangul syllables below which a file is not taken for Korean: a few Chinese
#: characters of the GB2312 rows Hangul shares (产品, 客户) read as Korean too.
MIN_SYLLABLES = 20
#: Chinese characters (Hanja in Korean text) above which a file is not Korean.
HANJA = re.compile("[\u4e00-\u9fff\uf900-\ufaff]")
MAX_HANJA = 0.01
#: Signs Hebrew text writes beside its letters: the shekel sign (₪120.00), geresh and gershayim
#: (ש״ח) and the two-letter ligatures.
HEBREW_SIGNS = frozenset("\u20aa\u05f0\u05f1\u05f2\u05f3\u05f4")
#: Hebrew final letters (ך ם ן ף ץ): written at the end of a word only.
HEBREW_FINALS = frozenset("\u05da\u05dd\u05df\u05e3\u05e5")


def _lone_letters(text: str, letters: list[int]) -> int:
    """How many of the Hebrew letters at ``letters`` stand alone, no Hebrew letter (nor a vowel
    point, nor the quote of an abbreviation: ש"ח) beside them. Hebrew words are of several
    letters (its one-letter words are prefixes written onto the next word); a Western file's
    lone ``à`` read as CP1255 is a lone alef."""

    def in_word(ch: str) -> bool:
        return "\u05b0" <= ch <= "\u05ea" or ch in "\"'\u05f3\u05f4"  # points too

    return sum(
        not ((i > 0 and in_word(text[i - 1])) or (i + 1 < len(text) and in_word(text[i + 1])))
        for i in letters
    )


def _touching_latin(text: str, letters: list[int]) -> bool:
    """Whether more than ``MAX_INSIDE_WORDS`` of the characters at ``letters`` have a Latin letter
    right before or after: a Western accent read as another script's letter (``Conceiחדo``)."""
    touching = sum(
        (i > 0 and _latin(text[i - 1])) or (i + 1 < len(text) and _latin(text[i + 1]))
        for i in letters
    )
    return touching > MAX_INSIDE_WORDS * len(letters)


#: Share of "Chinese" (or Thai) characters between two Latin letters above which GBK (or CP874)
#: is not taken: Western text decoded as either.
MAX_INSIDE_WORDS = 0.25


def _inside_latin_words(text: str, wide: list[int]) -> bool:
    """Whether more than ``MAX_INSIDE_WORDS`` of the non-ASCII characters at ``wide`` stand alone
    between two Latin letters: a Western accent read as another script (``Concei玢o``)."""
    inside = sum(
        0 < i < len(text) - 1 and _latin(text[i - 1]) and _latin(text[i + 1]) for i in wide
    )
    return inside > MAX_INSIDE_WORDS * len(wide)


def _looks_like_cp932(raw: bytes) -> str | None:
    """Text decoded as CP932 (Shift-JIS as Windows writes it) when it holds kana.

    Chinese GB2312 text read as CP932 has no kana (its bytes are all above 0xA0), and a byte
    CP932 leaves unassigned decodes to a private-use or control character, which Japanese
    exports do not hold; a file of kanji alone needs ``--encoding``.
    """
    try:
        text = raw.decode("cp932")
    except UnicodeDecodeError:
        return None
    return text if KANA.search(text) and not UNASSIGNED_CP932.search(text) else None


def _looks_like_cp874(raw: bytes) -> str | None:
    """Text decoded as CP874 (Thai TIS-620 as Windows writes it, a Thai POS's or Excel's CSV)
    when its non-ASCII characters are Thai and spelt as Thai is: every vowel or tone mark above
    or below a letter follows one (bytes of another encoding read as CP874 put marks anywhere,
    and Chinese GBK bytes mostly do not decode), its letters come with vowels and not one by
    one inside Latin words (Western capitals and signs read as CP874 are lone letters: ``É`` is
    ษ, ``Ç`` ว, ``£`` ฃ)."""
    try:
        text = raw.decode("cp874")
    except UnicodeDecodeError:
        return None
    wide = [i for i, ch in enumerate(text) if ord(ch) > 127]
    letters = sum("\u0e01" <= text[i] <= "\u0e2e" for i in wide)
    if not wide or sum(text[i] in THAI for i in wide) < 0.98 * len(wide):
        return None
    if letters < 0.4 * len(wide) or sum(text[i] in THAI_VOWELS for i in wide) < 0.2 * letters:
        return None
    if _inside_latin_words(text, wide):
        return None
    marks = [m.start() for m in THAI_MARK.finditer(text)]
    spelt = sum(i > 0 and text[i - 1] in THAI_BEFORE_MARK for i in marks)
    leading = [m.start() for m in THAI_LEADING.finditer(text)]
    spelt += sum(i + 1 < len(text) and "\u0e01" <= text[i + 1] <= "\u0e2e" for i in leading)
    return text if spelt >= 0.98 * (len(marks) + len(leading)) else None


#: Thai as written (letters, vowels, marks, the baht sign), not its rare signs or digits.
THAI = frozenset(map(chr, [*range(0x0E01, 0x0E3A), 0x0E3F, *range(0x0E40, 0x0E4E)]))
#: Thai vowel and tone marks written above or below: they follow a letter or another mark.
THAI_MARK = re.compile("[\u0e31\u0e34-\u0e39\u0e47-\u0e4d]")
THAI_BEFORE_MARK = frozenset(map(chr, [*range(0x0E01, 0x0E2F), 0x0E31, *range(0x0E34, 0x0E3A)]))
#: Thai vowels written before the letter they follow in speech: a letter comes next.
THAI_LEADING = re.compile("[\u0e40-\u0e44]")
#: Thai vowels and marks (above, below, before or after a letter): Thai text has them.
THAI_VOWELS = frozenset(map(chr, [0x0E30, *range(0x0E31, 0x0E3A), *range(0x0E40, 0x0E4E)]))
#: Hiragana and katakana (not the half-width katakana GBK bytes also read as).
KANA = re.compile("[\u3041-\u3096\u30a1-\u30fa]")
#: What CP932 decodes its unassigned bytes to (0x80, 0xA0, 0xFD-0xFF, the user-defined area).
UNASSIGNED_CP932 = re.compile("[\x80-\x9f\ue000-\uf8ff]")


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def clean_header(name: str) -> str:
    """A header name without a byte-order mark, no-break spaces or outer spaces."""
    return name.replace("\ufeff", "").replace("\u00a0", " ").strip()


def fold_name(name: str) -> str:
    """Loose form of a column name: width, case (Turkish ``İ``/``ı``, Russian ``ё`` as
    :func:`features.values.fold_case`) and spacing folded (for map-file lookups)."""
    return re.sub(r"\s+", " ", fold_case(name)).strip()


def _split(sep: str, lines: Iterable[str]):
    if sep == WHITESPACE:
        return ([*line.split()] for line in lines)
    return csv.reader(lines, delimiter=sep, quotechar='"', doublequote=True)


def sniff_separator(lines: Sequence[str]) -> str | None:
    """The separator whose quoted-aware split gives the header's field count on most sample rows."""
    sample = [line for line in lines[:SNIFF_LINES] if line.strip()]
    if not sample:
        return None
    best, best_score = None, (0.0, False, 0)
    for sep in (*SEPARATORS, WHITESPACE):
        try:
            rows = [r for r in _split(sep, sample) if r]
        except csv.Error:
            continue
        rows = rows[title_rows(rows) :]
        if not rows or len(rows[0]) < 2:
            continue
        header, data = len(rows[0]), rows[1:-1] if len(rows) > 2 else rows[1:]
        share = float(np.mean([len(r) == header for r in data])) if data else 1.0
        # whitespace is the fallback: on an equal share a delimiter wins, also with fewer
        # fields ("Account ID,Created Date" / "id,3/5/2024 2:22 PM" split on spaces into 3)
        score = (round(share, 2), sep != WHITESPACE, header)
        if score > best_score:
            best, best_score = sep, score
    return best if best_score[0] >= 0.5 else None


class _Lines(Sequence[str]):
    """Physical lines of a text, broken only at ``\\n`` (or a lone ``\\r``), as CSV readers do.

    ``str.splitlines`` would also break at U+2028, U+0085 and form feeds, which occur inside
    text fields copied from the web or Word. A line is cut from the text when it is used (a list
    of lines would hold each as a string of its own); a slice is a view of the same text.
    """

    def __init__(self, text: str, bounds: np.ndarray | None = None):
        if bounds is None:
            end = "\n" if "\n" in text or "\r" not in text else "\r"
            ends = np.fromiter((m.end() for m in re.finditer(end, text)), dtype="int64")
            bounds = np.concatenate([np.zeros(1, "int64"), ends])
            if bounds[-1] < len(text):  # a last line without a line end
                bounds = np.append(bounds, len(text))
        self.text, self.bounds = text, bounds  # line i is text[bounds[i] : bounds[i + 1]]

    def __len__(self) -> int:
        return len(self.bounds) - 1

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> _Lines: ...
    def __getitem__(self, i: int | slice) -> str | _Lines:
        if isinstance(i, slice):
            lo, hi, _ = i.indices(len(self))
            return _Lines(self.text, self.bounds[lo : max(lo, hi) + 1])
        i = i + len(self) if i < 0 else i
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.text[self.bounds[i] : self.bounds[i + 1]]

    def __iter__(self) -> Iterator[str]:
        for lo in range(0, len(self), BLOCK_RECORDS):
            bounds = self.bounds[lo : lo + BLOCK_RECORDS + 1].tolist()
            yield from (self.text[a:b] for a, b in pairwise(bounds))


def _parse_text(path: Path, text: str, sep: str | None) -> SourceFile:
    lines = _Lines(text)
    chosen = sep or sniff_separator(lines)
    if chosen is None:
        raise IngestError(
            f"{path}: cannot tell the column separator (tried comma, semicolon, tab, pipe "
            "and whitespace); pass --sep"
        )
    records, unclosed = _read_again_after_misquotes(
        path, lines, _records(path, lines, chosen, 0), chosen
    )
    if not len(records):
        raise EmptyExport(f"{path}: file is empty; expected a header and at least one row")
    notes = [f"separator {_sep_name(chosen)}" + ("" if sep else " (detected)")]
    title = title_rows(records)
    if title:
        notes.append(
            f"title skipped ({title} single-value lines before the header, such as "
            f"{next(f for f in records[0] if f.strip()).strip()!r})"
        )
        records = records[title:]
    names = [clean_header(h) for h in records[0]]
    header = unique_names(names)
    body = records[1:]
    footer = footer_rows(body, len(header)) if text.endswith(("\n", "\r")) else 0
    if footer:
        notes.append(
            f"footer skipped ({footer} line{'s' if footer != 1 else ''} after the last row: a "
            "report footer or totals line such as "
            f"{(chosen if len(chosen) == 1 else ' ').join(body[-footer])[:60]!r})"
        )
        body = body[: len(body) - footer]
    if not len(body):
        raise EmptyExport(f"{path}: file has a header but no rows; expected at least one row")
    spans = body.spans
    problems = _field_count_problems(body, len(header))
    problems[np.isin(spans[:, 0], list(unclosed))] = UNCLOSED_QUOTE
    if _cut_at_end(text, lines, tuple(spans[-1]), chosen):
        problems[-1] = TRUNCATED
    frame = pd.DataFrame(
        {name: pd.arrays.ArrowStringArray(body.column(j)) for j, name in enumerate(header)},
        index=pd.RangeIndex(len(body)),
    )
    del body, records
    for col in frame.columns:
        frame[col] = frame[col].str.strip().replace("", pd.NA)
    notes.extend(_unwrap_text_formulas(frame))
    # a name the header holds more than once (read as name, name.1, ...): no column is taken by it
    frame.attrs[REPEATED] = sorted({n for n in names if n and names.count(n) > 1})
    return SourceFile(
        path,
        frame,
        problems,
        spans[:, 0] + 1,
        sep=chosen,
        notes=notes,
        _raw_lines=lines,
        _record_spans=spans,
    )


#: A cell written as an Excel text formula, ``="2320583330808160736"`` (Taobao's and other
#: exports' way of keeping long digit ids and leading zeros from Excel).
TEXT_FORMULA = r'^="(.*)"$'


def _unwrap_text_formulas(frame: pd.DataFrame) -> list[str]:
    """The cells written ``="..."`` unwrapped in place (the id a plain re-export writes bare),
    and a note naming the columns."""
    wrapped = []
    for col in frame.columns:
        cells = frame[col]
        if cells.str.startswith('="', na=False).any():
            frame[col] = cells.str.replace(TEXT_FORMULA, r"\1", regex=True).replace("", pd.NA)
            wrapped.append(col)
    if not wrapped:
        return []
    return [f'Excel text formulas (="...") read as their text in {", ".join(map(repr, wrapped))}']


def _read_again_after_misquotes(
    path: Path, lines: Sequence[str], records: _Records, sep: str
) -> tuple[_Records, set[int]]:
    """A record whose quote does not close its field (csv read the next lines, up to a later
    stray quote or the end, into it) is its first line alone: one bad record; the lines after
    it are read again. Also returns the first lines of such records."""
    unclosed: set[int] = set()
    i = 0
    while True:
        spans = records.spans
        multi = i + np.flatnonzero(spans[i:, 1] - spans[i:, 0] > 1)
        bad = next((k for k in multi if _misquoted(lines, tuple(spans[k]), sep)), None)
        if bad is None:
            return records, unclosed
        start = int(spans[bad, 0])
        alone = next(csv.reader([lines[start]], delimiter=sep))
        records = _Records(
            [
                *records[:bad].blocks,
                _Block.of([alone], [_filled(alone)], [(start, start + 1)]),
                *_records(path, lines[start + 1 :], sep, start + 1).blocks,
            ]
        )
        unclosed.add(start)
        i = int(bad) + 1


def _field_count_problems(body: _Records, width: int) -> np.ndarray:
    """``FIELD_COUNT`` for each record of another field count than the header (trailing empty
    fields, a spreadsheet artefact, do not count), else None."""
    counts, filled = body.counts, body.filled
    trimmed = (counts > width) & (filled <= width)
    problems = np.full(len(counts), None, dtype=object)
    problems[(counts != width) & ~trimmed] = FIELD_COUNT
    return problems


#: Records per block of :class:`_Records` (the Python strings of one block are alive at once).
BLOCK_RECORDS = 65_536


@dataclass
class _Block:
    """Consecutive records, compact: their fields one after another in one Arrow array."""

    fields: pa.Array  # large_string
    counts: np.ndarray  # fields per record
    filled: np.ndarray  # fields per record up to its last non-blank one
    spans: np.ndarray  # (records, 2): first physical line and the one after the record

    @classmethod
    def of(
        cls, records: list[list[str]], filled: list[int], spans: list[tuple[int, int]]
    ) -> _Block:
        return cls(
            pa.array([f for fields in records for f in fields], type=pa.large_string()),
            np.array([len(fields) for fields in records], dtype="int64"),
            np.array(filled, dtype="int64"),
            np.array(spans, dtype="int64").reshape(-1, 2),
        )

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def firsts(self) -> np.ndarray:
        """Position in ``fields`` of each record's first field."""
        return np.cumsum(self.counts) - self.counts

    def record(self, i: int) -> list[str]:
        return self.fields.slice(self.firsts[i], self.counts[i]).to_pylist()

    def slice(self, lo: int, hi: int) -> _Block:
        firsts = self.firsts
        begin = firsts[lo] if lo < len(self) else len(self.fields)
        end = firsts[hi] if hi < len(self) else len(self.fields)
        return _Block(
            self.fields.slice(begin, end - begin),
            self.counts[lo:hi],
            self.filled[lo:hi],
            self.spans[lo:hi],
        )

    def column(self, j: int) -> pa.Array:
        """Field ``j`` of each record (null where a record has fewer fields)."""
        return self.fields.take(pa.array(self.firsts + j, mask=self.counts <= j))


def _filled(fields: list[str]) -> int:
    """The field count without trailing blank fields (0: a blank record)."""
    n = len(fields)
    while n and not fields[n - 1].strip():
        n -= 1
    return n


class _Records(Sequence[list[str]]):
    """The records of a file as a sequence of field lists, stored in :class:`_Block`\\ s."""

    def __init__(self, blocks: list[_Block]):
        self.blocks = [b for b in blocks if len(b)]
        self._ends = np.cumsum([len(b) for b in self.blocks], dtype="int64")

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    @overload
    def __getitem__(self, i: int) -> list[str]: ...
    @overload
    def __getitem__(self, i: slice) -> _Records: ...
    def __getitem__(self, i: int | slice) -> list[str] | _Records:
        if isinstance(i, slice):
            lo, hi, _ = i.indices(len(self))
            return _Records([self._block_slice(b, lo, hi) for b in range(len(self.blocks))])
        i = i + len(self) if i < 0 else i
        if not 0 <= i < len(self):
            raise IndexError(i)
        b = int(np.searchsorted(self._ends, i, side="right"))
        return self.blocks[b].record(i - self._begin(b))

    def _begin(self, b: int) -> int:
        return int(self._ends[b - 1]) if b else 0

    def _block_slice(self, b: int, lo: int, hi: int) -> _Block:
        begin = self._begin(b)
        block = self.blocks[b]
        return block.slice(min(max(lo - begin, 0), len(block)), min(max(hi - begin, 0), len(block)))

    def _joined(self, name: str) -> np.ndarray:
        parts = [getattr(b, name) for b in self.blocks]
        return np.concatenate(parts) if parts else np.empty(0, dtype="int64")

    @property
    def counts(self) -> np.ndarray:
        return self._joined("counts")

    @property
    def filled(self) -> np.ndarray:
        return self._joined("filled")

    @property
    def spans(self) -> np.ndarray:
        return self._joined("spans").reshape(-1, 2)

    def column(self, j: int) -> pa.ChunkedArray:
        """Field ``j`` of each record (null where a record has fewer fields)."""
        return pa.chunked_array([b.column(j) for b in self.blocks], type=pa.large_string())


def _records(path: Path, lines: Sequence[str], sep: str, offset: int) -> _Records:
    """The non-blank records of ``lines`` and the span of physical lines of each (from
    ``offset``)."""
    blocks: list[_Block] = []
    records: list[list[str]] = []
    filled: list[int] = []
    spans: list[tuple[int, int]] = []
    reader = (
        _split(sep, lines)
        if sep == WHITESPACE
        else csv.reader(iter(lines), delimiter=sep, quotechar='"', doublequote=True)
    )
    csv.field_size_limit(1 << 30)
    consumed = 0
    try:
        for fields in reader:
            start = consumed
            consumed = consumed + 1 if sep == WHITESPACE else reader.line_num
            if n := _filled(fields):
                records.append(fields)
                filled.append(n)
                spans.append((offset + start, offset + consumed))
                if len(records) == BLOCK_RECORDS:
                    blocks.append(_Block.of(records, filled, spans))
                    records, filled, spans = [], [], []
    except csv.Error as exc:
        raise IngestError(
            f"{path}: line {offset + consumed + 1}: not readable as CSV ({exc}); check --sep"
        ) from exc
    return _Records([*blocks, _Block.of(records, filled, spans)])


def _strict_error(lines: Sequence[str], span: tuple[int, int], sep: str) -> str | None:
    """The error of a strict CSV reading of the record on ``lines[span]``, None when it reads
    cleanly (its quotes open and close fields as CSV says)."""
    if sep == WHITESPACE:
        return None
    try:
        for _ in csv.reader(iter(lines[span[0] : span[1]]), delimiter=sep, strict=True):
            pass
    except csv.Error as exc:
        return str(exc)
    return None


def _misquoted(lines: Sequence[str], span: tuple[int, int], sep: str) -> bool:
    """A record whose quote does not close its field: it never closes, or text follows it."""
    return _strict_error(lines, span, sep) is not None


def _unclosed(lines: Sequence[str], span: tuple[int, int], sep: str) -> bool:
    """A record that ends inside a quoted field."""
    return "unexpected end of data" in (_strict_error(lines, span, sep) or "")


def title_rows(records: Sequence[list[str]]) -> int:
    """Leading lines of one value each before a header of several (a sheet title saved with the
    data)."""
    n = 0
    while n < min(len(records) - 2, 5) and sum(1 for f in records[n] if f.strip()) == 1:
        n += 1
    header = records[n] if n < len(records) else []
    return n if n and sum(1 for f in header if f.strip()) >= 3 else 0


#: First cells of a report's totals line ("Total,,,1359123,,8471629.46"), lower case.
TOTALS_WORDS = frozenset(
    {
        "total",
        "totals",
        "grand total",
        "subtotal",
        "sub-total",
        "sum",
        "summe",
        "gesamt",
        "totaal",
        "合计",
        "总计",
        "小计",
    }
)


def footer_rows(body: Sequence[list[str]], width: int) -> int:
    """Trailing lines of one value each (a report's totals/copyright footer, as Salesforce
    writes), or whose first cell is a totals word (a spreadsheet's totals row)."""
    if width < 3:
        return 0

    def is_footer(fields: list[str]) -> bool:
        if len(fields) < width and sum(1 for f in fields if f.strip()) == 1:
            return True
        return bool(fields) and fields[0].strip().rstrip(":").lower() in TOTALS_WORDS

    n = 0
    while n < len(body) - 1 and is_footer(body[-1 - n]):
        n += 1
    return n


def _cut_at_end(text: str, lines: Sequence[str], span: tuple[int, int], sep: str) -> bool:
    """A file that stops without a line end, or inside a quoted field, lost the end of its last
    row (a literal ``"`` inside an unquoted field, ``27" monitor``, is no open quote)."""
    return not text.endswith(("\n", "\r")) or _unclosed(lines, span, sep)


def unique_names(names: list[str]) -> list[str]:
    """Header names made unique as pandas reads them (``name``, ``name.1``; a blank one
    ``column_<i>``)."""
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = name or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def _sep_name(sep: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", WHITESPACE: "whitespace"}.get(
        sep, repr(sep)
    )
