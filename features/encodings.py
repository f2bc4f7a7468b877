"""A text export decoded strictly: a wrong encoding is a one-line error naming the file and
``--encoding``, never replacement characters (:func:`decode`). UTF-8 and a byte order mark are
read as such; other encodings are detected by their script (``features.encoding_detection``)
when unambiguous.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from features.encoding_detection import LANGUAGES, readings
from features.european_detection import SAMPLE, european_readings
from features.mapping import IngestError

ENCODING_HINT = (
    "pass --encoding (e.g. --encoding cp1252 for Western European Windows/Excel exports, "
    "--encoding latin-1, --encoding cp850 for an old DOS program's, --encoding mac-roman for "
    "an old Mac's, --encoding cp1250 for Central European (Polish, Czech), --encoding "
    "cp1251 for Cyrillic, --encoding cp1254 for Turkish, --encoding gbk for Chinese, "
    "--encoding big5 for Traditional Chinese (Taiwan, Hong Kong), --encoding cp932 for "
    "Japanese, --encoding cp949 for Korean, --encoding cp1255 for Hebrew or --encoding cp874 "
    "for Thai exports)"
)


def check_encoding(encoding: str | None) -> str | None:
    """Validate an ``--encoding`` name (``None``/``auto`` means detect)."""
    if encoding is None or encoding.lower() == "auto":
        return None
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise IngestError(
            f"--encoding {encoding!r}: unknown encoding; use utf-8, utf-8-sig, gbk, "
            "gb18030, big5, cp932, cp949, cp874, latin-1, cp1252, cp1250, cp1251 or cp1255"
        ) from exc
    return encoding


def decode(path: Path, raw: bytes, encoding: str | None) -> tuple[str, str]:
    """Decode strictly; detect UTF-8 (with or without BOM), UTF-16 with BOM, CP949, CP1255, GBK,
    Big5, CP932, CP874, CP1251, KOI8-R, CP1250 and CP1254 when unambiguous."""
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
        sample = _detection_sample(raw)
        found = readings(sample)
        if len(found) != 1 and (spread := _spread_sample(raw)) != sample:
            found = readings(spread)  # the first lines cannot tell: lines from all over
        if len(found) == 1:
            ((name, _),) = found.items()
            try:
                return raw.decode(name), f"{name} (detected)"
            except UnicodeDecodeError as late:
                raise IngestError(
                    f"{path}: its first lines read as {name} ({LANGUAGES[name]}), but not the "
                    f"rest ({_where(raw, late)}); {ENCODING_HINT}"
                ) from late
        if found:
            raise IngestError(_ambiguous(path, found)) from exc
        if _punctuation_only(raw):  # “quotes” – …: no code page to tell
            return raw.decode("cp1252"), f"cp1252 (detected: {SHARED_SAID})"
        if (utf8 := _utf8_before(raw, exc)) is not None:
            raise IngestError(f"{path}: not UTF-8 text ({_where(raw, exc)}); {utf8}") from exc
        raise IngestError(f"{path}: not UTF-8 text ({_where(raw, exc)}); {ENCODING_HINT}") from exc


#: Words of non-ASCII characters a file's bytes before its first invalid one must spell in UTF-8
#: for the file to be called UTF-8 up to there (a code page's bytes make one by chance, not three).
UTF8_SHOWN = 3


def _utf8_before(raw: bytes, exc: UnicodeDecodeError) -> str | None:
    """What to say of a file that is UTF-8 up to its first invalid byte (its non-ASCII words
    before read as UTF-8: a row pasted from another code page), None otherwise: a legacy
    ``--encoding`` would misread all of its UTF-8 text (``Müller`` as ``MÃ¼ller``)."""
    start = _first_non_ascii_line(raw)
    before = raw[start : min(exc.start, start + DETECTION_SAMPLE)].decode("utf-8", "ignore")
    found = _words(before)
    if len(found) < UTF8_SHOWN:
        return None
    words = _first_words(found, [], UTF8_SHOWN)
    line = raw.count(b"\n", 0, exc.start) + 1
    return (
        f"the file is UTF-8 up to line {line} (its words before read as UTF-8: "
        f"{', '.join(words)}), and that line holds a byte of another code page (a row pasted "
        f"from another export): fix or remove line {line}; an --encoding of a legacy code page "
        "would misread all of its UTF-8 text"
    )


def _detection_sample(raw: bytes) -> bytes:
    """``DETECTION_SAMPLE`` bytes of a file from the line of its first non-ASCII byte (an export
    of English names first may write its Turkish or Japanese ones after thousands of rows), to
    the last whole line (a multibyte character is never cut: no code page detected writes 0x0A
    inside one); all of it from there when shorter or without a line break."""
    start = _first_non_ascii_line(raw)
    if len(raw) - start <= DETECTION_SAMPLE:
        return raw[start:]
    end = raw.rfind(b"\n", start, start + DETECTION_SAMPLE)
    return raw[start:] if end < 0 else raw[start : end + 1]


def _spread_sample(raw: bytes, pieces: int = 8) -> bytes:
    """``DETECTION_SAMPLE`` bytes of whole lines in ``pieces`` runs spread evenly from the first
    line that is not ASCII to the end (an export sorted by country: German names first, its
    Polish ones last); :func:`_detection_sample` where the file is no longer than that."""
    start = _first_non_ascii_line(raw)
    size = DETECTION_SAMPLE // pieces
    if len(raw) - start <= DETECTION_SAMPLE:
        return _detection_sample(raw)
    runs = []
    for k in range(pieces):
        at = start + k * (len(raw) - start - size) // (pieces - 1)
        begin = max(start, raw.rfind(b"\n", start, at) + 1)
        end = raw.rfind(b"\n", begin, begin + size)
        runs.append(raw[begin : end + 1] if end >= 0 else b"")
    return b"".join(runs)


def _first_non_ascii_line(raw: bytes) -> int:
    """Where the line of a file's first non-ASCII byte starts (0 where there is none)."""
    first = NON_ASCII_BYTE.search(raw)
    return 0 if first is None else raw.rfind(b"\n", 0, first.start()) + 1


NON_ASCII_BYTE = re.compile(rb"[\x80-\xff]")
#: ASCII and the bytes every Windows code page (CP1250 to CP1258, CP874) reads alike: the
#: ellipsis, curly quotes, bullet, dashes and no-break space an English Excel export writes
#: (``O’Neil``, ``“Best” – London``); a file of no other bytes is CP1252 as much as any.
ASCII_AND_SHARED = bytes(range(0x80)) + b"\x85\x91\x92\x93\x94\x95\x96\x97\xa0"
SHARED_SAID = "punctuation only, the same in every Windows code page"
#: One of those bytes inside a word, but the apostrophe (``O’Neil``): a letter of another code
#: page (DOS CP850's ``K\x94ln`` is Köln, Mac Roman's ``Ma\x96ana`` Mañana), no punctuation.
SHARED_IN_A_WORD = re.compile(rb"[A-Za-z][\x85\x91\x93-\x97\xa0][A-Za-z]")


#: An apostrophe inside a word, with the letters either side.
APOSTROPHE_IN_A_WORD = re.compile(rb"([A-Za-z]+)\x92([A-Za-z]+)")
#: What follows an English apostrophe inside a word (``don’t``, ``Macy’s``, ``we’ll``).
ENGLISH_ENDINGS = frozenset({b"s", b"t", b"d", b"m", b"ll", b"re", b"ve"})


def _apostrophe_as_letter(raw: bytes) -> bool:
    """Whether an apostrophe byte stands where no apostrophe is written: neither after one letter
    (``O’Neil``, ``d’Arc``) nor before an English ending (``don’t``), so a letter of another code
    page (Mac Roman's 0x92 is í: ``Garc’a Mart’nez`` is García Martínez)."""
    return any(
        len(left) > 1 and right.lower() not in ENGLISH_ENDINGS
        for left, right in APOSTROPHE_IN_A_WORD.findall(raw)
    )


def _punctuation_only(raw: bytes) -> bool:
    """Whether a file's non-ASCII bytes are only punctuation every Windows code page reads alike
    (:data:`ASCII_AND_SHARED`), none inside a word but an apostrophe where one is written."""
    return (
        not raw.translate(None, ASCII_AND_SHARED)
        and not SHARED_IN_A_WORD.search(raw)
        and not _apostrophe_as_letter(raw)
    )


#: Bytes of a non-UTF-8 file whose script or words tell its encoding (a few thousand rows):
#: the detectors read each character in Python, about a second per megabyte.
DETECTION_SAMPLE = 1 << 18


def _ambiguous(path: Path, found: dict[str, str]) -> str:
    """Why a file is not read: its bytes make text in each encoding of ``found``, shown by its
    first words of each that read otherwise in the others, so that its owner can tell which is
    the file's."""
    words = {name: _words(text) for name, text in found.items()}
    shown = "; ".join(
        f"--encoding {name} reads {LANGUAGES[name]} "
        + ", ".join(_first_words(words[name], [w for n, w in words.items() if n != name]))
        for name in found
    )
    return (
        f"{path}: not UTF-8 text, and its bytes read as {len(found)} encodings, too few words "
        f"to tell which: {shown}. Pass the --encoding whose words are the file's"
    )


def _words(text: str) -> list[str]:
    """The words of ``text`` holding a non-ASCII character, in order."""
    return NON_ASCII_WORD.findall(text)


#: A field's run of characters holding a non-ASCII one (김민준, Łódź, Nº).
NON_ASCII_WORD = re.compile(r"[^\s,;|\"'()]*[^\x00-\x7f][^\s,;|\"'()]*")


def _first_words(words: list[str], others: list[list[str]], count: int = 3) -> list[str]:
    """The first ``count`` distinct ``words`` that no reading of ``others`` has."""
    elsewhere = {w for other in others for w in other}
    first: list[str] = []
    for word in words:
        if word not in elsewhere and word not in first:
            first.append(word)
        if len(first) == count:
            break
    return first


#: A Polish letter of CP1250 read as CP1252 or Latin-1 inside a word: ą is ¹, ł ³, ż ¿
#: (``kupuj¹cego``, ``wys³ane``), which no Western word holds.
_CP1250_AS_WESTERN = re.compile(r"[A-Za-z]+[¹³¿][A-Za-z]+")


#: The code pages a user names for Western European exports (``--encoding cp1252``, latin-1).
WESTERN_CODECS = ("cp1252", "iso8859-1", "iso8859-15")


def central_european_as_western(text: str, used: str) -> str | None:
    """A note when a file read as CP1252 or Latin-1 holds Polish letters so misread (a
    BaseLinker or Subiekt export, CP1250, with --encoding cp1252): its column names are not
    found as the map file spells them."""
    if _codec(used.split(" ")[0]) not in WESTERN_CODECS:
        return None
    found = _CP1250_AS_WESTERN.search(text)
    if found is None:
        return None
    return (
        f"{found.group()!r}: cp1250 read as {used}? Central European text (Polish, Czech, "
        "Hungarian) needs --encoding cp1250"
    )


def cyrillic_as_western(path: Path, text: str, used: str) -> str | None:
    """A note when a file read as CP1252 or Latin-1 is Cyrillic (a 1C or Bitrix24 export,
    CP1251 or KOI8-R, with --encoding cp1252): its first ``SAMPLE`` characters' bytes spell
    the words of one Cyrillic alphabet (``features.european_detection``), which the Western
    reading shows as accents alone (``Ðåäàêöèÿ`` for ``Редакция``)."""
    codec = _codec(used.split(" ")[0])
    if codec not in WESTERN_CODECS:
        return None
    sample = text[:SAMPLE]
    if len(text) > SAMPLE:
        sample = sample[: sample.rfind("\n") + 1] or sample
    raw = sample.encode(codec)
    cyrillic = [n for n in european_readings(raw) if n in ("cp1251", "koi8-r")]
    if not cyrillic:
        return None
    words = list(dict.fromkeys(_words(sample)))[:3]
    read = ", ".join(f"{w!r} is {w.encode(codec).decode(cyrillic[0])!r}" for w in words)
    pass_ = " or ".join(f"--encoding {n}" for n in cyrillic)
    return (
        f"{path.name}: Cyrillic read as {used}? its words read as {LANGUAGES[cyrillic[0]]} "
        f"({read}): pass {pass_}"
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
        f"the file is UTF-8: leave --encoding {given} out (UTF-8, GBK, Big5, CP932, CP949, "
        "CP1255, CP874, CP1251, KOI8-R, CP1250 and CP1254 are detected)"
    )


def _where(raw: bytes, exc: UnicodeDecodeError) -> str:
    line = raw.count(b"\n", 0, exc.start) + 1
    return f"line {line}: byte 0x{raw[exc.start]:02x}"
