"""Telling a non-UTF-8 export's encoding by the script its bytes make: Chinese (GBK/GB18030,
Big5), Korean (CP949), Hebrew (CP1255), Japanese (CP932) and Thai (CP874); Cyrillic and Central
European by their words (``features.european_detection``). Each ``looks_like_*`` returns
the decoded text when its non-ASCII characters are spelt as that script is, else None.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from features.european_detection import european_readings


def looks_like_gbk(raw: bytes) -> str | None:
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


def looks_like_cp949(raw: bytes, min_syllables: int | None = None) -> str | None:
    """Text decoded as CP949 (Korean EUC-KR as Windows writes it: Cafe24's, Naver SmartStore's,
    a Korean Excel's CSV) when its non-ASCII characters are Hangul syllables, of enough kinds to
    tell, making words of their own.

    Korean bytes read as GB18030 are all common GB2312 characters (Cafe24's 취소 cancelled reads
    "秒家"), so Korean is tried before Chinese. Chinese read as CP949 is Hanja or undefined
    wherever a character lies beyond the rows of Hangul (a Chinese text of a few words has
    such: 是, 中, 状态), so a file with Hanja is not taken, nor a handful of characters that
    could be either. Western text mostly does not decode; where it does (``Å`` and the next
    ASCII letter are one syllable), the syllables stand inside Latin words. Japanese kana in
    CP932 (lead bytes 0x82, 0x83) decode as syllables of CP949's extension (すいか reads
    "궥궋궔"), which Korean text hardly writes: its syllables are KS X 1001's 2,350.
    ``min_syllables``: distinct syllables to tell (``MIN_SYLLABLES``), fewer to ask whether a
    file could be Korean.
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
    enough = MIN_SYLLABLES if min_syllables is None else min_syllables
    if not hangul or len({text[i] for i in hangul}) < enough or _touching_latin(text, hangul):
        return None
    common = sum(_ks_x_1001(text[i]) for i in hangul)
    return text if common >= MIN_COMMON_HANGUL * len(hangul) else None


def _ks_x_1001(syllable: str) -> bool:
    """Whether a Hangul syllable is one of KS X 1001's 2,350 (EUC-KR's, bytes 0xB0A1-0xC8FE),
    not of the 8,822 CP949 added in bytes EUC-KR leaves free."""
    lead, trail = syllable.encode("cp949")
    return lead >= 0xB0 and trail >= 0xA1


def looks_like_cp1255(raw: bytes) -> str | None:
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


def readings(raw: bytes) -> dict[str, str]:
    """The encodings (by the name ``decode`` reports) a non-UTF-8 file's bytes could be, each with
    its text: one when its script tells, several when its bytes make sense in each.

    Korean and Hebrew text always also reads as common GB2312 Chinese (Korean as Big5's common
    characters too), so neither Chinese is a rival to either; Korean of too few syllables to
    tell is a rival to GB18030 and Big5 (three customers' names
    read as Chinese characters, a few Chinese ones as Hangul). Cyrillic and Central European
    readings come by their words; Hebrew is no Cyrillic of one case, and a Western reading is
    only named beside another, never detected.
    """
    found = {name: text for name, looks_like in DETECTORS if (text := looks_like(raw)) is not None}
    if "cp949" in found or "cp1255" in found:
        found.pop("gb18030", None)
        found.pop("big5", None)
    elif {"gb18030", "big5"} & set(found) and (korean := looks_like_cp949(raw, 1)) is not None:
        found = {"cp949": korean, **found}
    european = european_readings(raw)
    if "cp1255" in found:  # Hebrew letters read as CP1251 are lower case alone, as KOI8-R capitals
        if not CYRILLIC_CAPITAL.search(european.get("cp1251", "")):
            european.pop("cp1251", None)
        if not CYRILLIC_LOWER.search(european.get("koi8-r", "")):
            european.pop("koi8-r", None)
    if "cp874" in found and (big5 := big5_rival(raw)) is not None:
        found["big5"] = big5  # a few Chinese names read as Thai, of fewer common characters
    if set(european) == {"cp1252"}:
        european = {}  # a Western reading is a rival, never detected
    cyrillic = {"cp1251", "koi8-r"} & set(european)
    if cyrillic and "gb18030" in found and _level_1_share(found["gb18030"]) < MIN_LEVEL_1:
        del found["gb18030"]
    return {**found, **european}


def looks_like_big5(raw: bytes, min_level_1: float | None = None) -> str | None:
    """Text decoded as Big5 (Traditional Chinese: a Taiwanese or Hong Kong shop's export) when
    (nearly) all its characters are of Big5's common characters (its level 1, the 5,401 most
    written: lead bytes 0xA4-0xC6), at least two distinct ones, few beside a Latin letter
    (a Western capital read as Big5 takes the letter after it: ``Ärzte`` as ``礪zte``).

    Simplified Chinese GB2312 text read as Big5 mostly does not decode, and where it does half
    its characters are of level 2 (GB2312's level 1 has lead bytes up to 0xD7); Korean text reads
    as level-1 characters too, so a Korean reading goes first (:func:`readings`). A few Big5
    names also read as common GB2312 characters, or as Thai (楊佩珊 as ทจจุฌภ): both are
    named, not guessed. ``min_level_1``: share of level-1 characters (``MIN_BIG5_LEVEL_1``).
    """
    try:
        text = raw.decode("big5")
    except UnicodeDecodeError:
        return None
    wide = [i for i, ch in enumerate(text) if ord(ch) > 127]
    common = sum(0xA4 <= text[i].encode("big5")[0] <= 0xC6 for i in wide)
    least = MIN_BIG5_LEVEL_1 if min_level_1 is None else min_level_1
    if len({text[i] for i in wide}) < MIN_BIG5_CHARACTERS or common < least * len(wide):
        return None
    return None if _touching_latin(text, wide) else text


def big5_rival(raw: bytes) -> str | None:
    """Text decoded as Big5 when at least ``MIN_BIG5_RIVAL`` of its characters are of level 1,
    a rival to a Thai reading: a Thai file rarely decodes as Big5 (a word of an odd number of
    bytes before a comma does not), nor its vowels (bytes 0xD0-0xED) as level-1 leads."""
    return looks_like_big5(raw, MIN_BIG5_RIVAL)


#: Share of a Big5 reading's characters that must be of its level 1 to be taken: a name or
#: product has the odd rarer character (珈 of 瑜珈墊); GB2312 text read as Big5 has 0.3-0.8.
MIN_BIG5_LEVEL_1 = 0.9
#: The same share for a Big5 reading to rival a Thai one.
MIN_BIG5_RIVAL = 0.8
#: Distinct characters a Big5 reading needs: a Western sign and the letter after it make one
#: (``20°C`` as ``20蚓``); a name or a city has two.
MIN_BIG5_CHARACTERS = 2


def _level_1_share(text: str) -> float:
    """Share of the non-ASCII characters of ``text`` that are of GB2312's level 1, the 3,755
    most written (bytes 0xB0A1-0xD7FE): nine in ten of a Chinese file's. Lower-case Cyrillic in
    CP1251 (bytes 0xE0-0xFF) read as GB18030 is characters of level 2 (Статус reads 羊囹篑)."""
    wide = [ch for ch in text if ord(ch) > 127]
    level_1 = 0
    for ch in wide:
        try:
            lead = ch.encode("gb2312")[0]
        except UnicodeEncodeError:
            continue
        level_1 += 0xB0 <= lead <= 0xD7
    return level_1 / max(len(wide), 1)


#: Cyrillic capitals and lower case: CP1251 writes capitals, KOI8-R lower case as bytes
#: 0xC0-0xDF, which CP1255 reads as vowel points; Hebrew letters are the bytes of the others.
CYRILLIC_CAPITAL = re.compile("[\u0400-\u042f]")
CYRILLIC_LOWER = re.compile("[\u0430-\u045f]")
#: Share of GB2312's level-1 characters below which a file that reads as Cyrillic is not
#: Chinese: Chinese text has nine in ten, a few Cyrillic words read as GB18030 about half.
MIN_LEVEL_1 = 0.75
#: Share of a file's non-ASCII characters that must be of the script CP949 (Hangul syllables) or
#: CP1255 (Hebrew letters) is detected by.
MIN_SCRIPT_SHARE = 0.9
#: Distinct Hangul syllables below which a file is not taken for Korean: a few Chinese
#: characters of the GB2312 rows Hangul shares (产品, 客户) read as Korean too.
MIN_SYLLABLES = 20
#: Share of a Korean file's Hangul syllables that are KS X 1001's: the odd syllable of the
#: extension (똠 of 똠양꿍) is written, Japanese kana read as CP949 are all of it.
MIN_COMMON_HANGUL = 0.9
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


def looks_like_cp932(raw: bytes) -> str | None:
    """Text decoded as CP932 (Shift-JIS as Windows writes it) when it holds kana, or, without
    kana, kanji that are (nearly) all of JIS level 1 (the 2,965 most written, bytes
    0x889F-0x9872) with any half-width katakana (ﾔﾏﾀﾞ ﾀﾛｳ, an old system's furigana) spelt
    (``HALF_WIDTH_MISSPELT``).

    Chinese GB2312 text read as CP932 has no kana (its bytes are all above 0xA0), and a byte
    CP932 leaves unassigned decodes to a private-use or control character, which Japanese
    exports do not hold. No other encoding detected writes lead bytes of level 1 (0x88-0x98):
    Chinese, Korean, Thai or Hebrew bytes read as CP932 mostly do not decode, and where they do
    they are half-width katakana and level-2 kanji; Central European ``Š`` (0x8A) and the
    letter after it read as a level-1 kanji before Latin letters (``Šampon`` as 蛎mpon); a DOS
    or Mac accent and the letter after it read as a kana or a sign between Latin letters
    (CP850 ``Château`` as Chフeau), kana or not.
    """
    try:
        text = raw.decode("cp932")
    except UnicodeDecodeError:
        return None
    if UNASSIGNED_CP932.search(text):
        return None
    wide = [i for i, ch in enumerate(text) if ord(ch) > 127]
    if _inside_latin_words(text, wide):
        return None  # a Western accent and the letter after it read as one: Chフeau, Mart｡nez
    if KANA.search(text):
        return text
    kanji = [i for i in wide if KANJI.match(text[i])]
    level_1 = sum(0x889F <= int.from_bytes(text[i].encode("cp932"), "big") <= 0x9872 for i in kanji)
    if not kanji or level_1 < MIN_JIS_LEVEL_1 * len(kanji) or _touching_latin(text, kanji):
        return None
    return None if HALF_WIDTH_MISSPELT.search(text) else text


def looks_like_cp874(raw: bytes) -> str | None:
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
    if _inside_latin_words(text, wide) or LATIN_INSIDE_THAI.search(text):
        return None  # Big5's second bytes 0x40-0x7E read as Latin letters in a Thai word
    if THAI_LAKKHANGYAO.search(text):
        return None  # ๅ is written after ฤ and ฦ alone (ฤๅ); a Big5 name reads ดๅฐ๊ตุ
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
#: A Latin letter or two between Thai letters: no Thai word is spelt so.
LATIN_INSIDE_THAI = re.compile("[\u0e01-\u0e4d][A-Za-z]{1,2}[\u0e01-\u0e4d]")
#: Lakkhangyao (ๅ) not after ฤ or ฦ.
THAI_LAKKHANGYAO = re.compile("(?<![\u0e24\u0e26])\u0e45")
#: Thai vowels and marks (above, below, before or after a letter): Thai text has them.
THAI_VOWELS = frozenset(map(chr, [0x0E30, *range(0x0E31, 0x0E3A), *range(0x0E40, 0x0E4E)]))
#: Hiragana and katakana (not the half-width katakana GBK bytes also read as).
KANA = re.compile("[\u3041-\u3096\u30a1-\u30fa]")
#: Kanji (CJK unified ideographs).
KANJI = re.compile("[\u4e00-\u9fff]")
#: Share of a kana-less CP932 reading's kanji that must be of JIS level 1: a name or a product
#: has the odd rarer one (Chinese, Korean or Thai bytes read as CP932 have none).
MIN_JIS_LEVEL_1 = 0.8
#: Half-width katakana misspelt: beside a Latin letter, a voicing mark after a kana that takes
#: none (ﾞ after ｳ ｶ-ﾄ ﾊ-ﾎ, ﾟ after ﾊ-ﾎ), a small kana, ｰ or ﾝ after no kana.
HALF_WIDTH_MISSPELT = re.compile(
    "[A-Za-z][\uff66-\uff9f]|[\uff66-\uff9f][A-Za-z]"
    "|(?<![\uff73\uff76-\uff84\uff8a-\uff8e])\uff9e|(?<![\uff8a-\uff8e])\uff9f"
    "|(?<![\uff66-\uff9f])[\uff67-\uff70\uff9d]"
)
#: What CP932 decodes its unassigned bytes to (0x80, 0xA0, 0xFD-0xFF, the user-defined area).
UNASSIGNED_CP932 = re.compile("[\x80-\x9f\ue000-\uf8ff]")


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


#: The encodings detected, the name each is reported by, and its language.
DETECTORS: tuple[tuple[str, Callable[[bytes], str | None]], ...] = (
    ("cp949", looks_like_cp949),
    ("cp1255", looks_like_cp1255),
    ("gb18030", looks_like_gbk),
    ("big5", looks_like_big5),
    ("cp932", looks_like_cp932),
    ("cp874", looks_like_cp874),
)
LANGUAGES = {
    "cp949": "Korean",
    "cp1255": "Hebrew",
    "gb18030": "Chinese",
    "cp932": "Japanese",
    "cp874": "Thai",
    "big5": "Traditional Chinese",
    "cp1251": "Cyrillic",
    "koi8-r": "Cyrillic (KOI8-R)",
    "cp1250": "Central European",
    "cp1254": "Turkish",
    "cp1252": "Western European",
}
