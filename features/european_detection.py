"""Telling a Cyrillic (CP1251, KOI8-R), Central European (CP1250) or Turkish (CP1254) export from
a Western one (CP1252) by the words its bytes make.

Every byte decodes in each of these single-byte code pages, so a reading is judged by its words:
a word is spelt when its letters are of one script (Cyrillic, or Latin with the accents of one
language), never a symbol inside it nor a lower-case letter before a capital. Cyrillic read as
Western is words of accents alone (``Ðåäàêöèÿ``), Polish read as Western has symbols inside its
words (``kupuj¹cego``, ``wys³ane``), Western read as Cyrillic has Cyrillic letters inside Latin
words (``Mьller``). CP1250 and CP1252 share most accented letters (``Müller``, ``Pâté`` read the
same in both), so only the words that read differently tell them apart.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable

#: The accented letters of each language written in CP1250 (Central European) and CP1252
#: (Western): a word's accents are one language's.
CENTRAL_EUROPEAN = (
    "ąćęłńóśźż",  # Polish
    "áčďéěíňóřšťúůýž",  # Czech
    "áäčďéíĺľňóôŕšťúýž",  # Slovak
    "áéíóöőúüű",  # Hungarian
    "ăâîşţ",  # Romanian
    "čćđšž",  # Croatian, Slovene, Bosnian
    "äöüß",  # German names in a Polish or Czech shop's list
)
WESTERN = (
    "àâæçéèêëîïôœùûüÿ",  # French
    "äöüß",  # German
    "áéíñóúü",  # Spanish
    "áâãàçéêíóôõú",  # Portuguese
    "àèéìòóù",  # Italian
    "àçèéíïòóúü",  # Catalan
    "éëïöüèó",  # Dutch
    "æøåéó",  # Danish, Norwegian
    "åäöéü",  # Swedish, Finnish
    "áðéíóúýþæö",  # Icelandic
)
#: What no Western word writes: ì before another letter (Italian writes it last: lunedì), è
#: before a vowel (Crème, Genève, caffè), ñ before no vowel (año, Peña), œ before w l r m n b
#: (French writes cœur, œil, Œdipe, œsophage). Czech ě č and Polish ń ś read as CP1252 are
#: these (Vìra, Dokonèeno, Poznañ, Kamiñski, Œwieca).
WESTERN_MISSPELT = re.compile(
    "[ìÌ](?=[^\\W\\d_])|[èÈ](?=[aeiouyáéíóúýAEIOUYÁÉÍÓÚÝ])"
    "|[ñÑ](?![aeiouáéíóúAEIOUÁÉÍÓÚ])|[œŒ](?=[wlrmnbWLRMNB])"
)
#: What no Central European word writes (in lower case): Polish ś ź before a vowel (written si,
#: zi), ź after a consonant but d (dź) or starting a word before no r l d (źródło, źle), ż after
#: c f g h j k p q s t v x (Polish writes dż rż wż zż mż łż lż bż); Slovak ŕ ĺ (a syllable of
#: their own) at a word's start or after a vowel; Czech and Slovak ď ť ň before i y e (written
#: di ti ni, dě tě ně; Slovak ťiahnuť aside) or starting a word before no vowel (ťava, ďábel);
#: Polish letters in a word with v q x (Polish writes none). Mac Roman's ü ø Ø read as CP1250
#: are ź ż Ż (Mźnchen, Sżren, Lżvland), DOS CP850's Ó Õ Ø are ŕ ĺ ť (ŕlafur, ťystein).
CENTRAL_EUROPEAN_MISSPELT = re.compile(
    "[śź](?=[aeiouyąęó])|(?<=[^\\W\\daąeęioóuyd_])ź|^ź(?![rld])"
    "|(?<=[cfghjkpqstvx])ż|(?<![^\\W\\daeiouyáéíóúý_])[ŕĺ]"
    "|[ďťň](?=[íyýeé]|i(?![aeu]))|^[ďťň](?![aáäuúůoóô])|^(?=.*[vqx]).*[ąęłńśźż]"
)
#: Turkish letters beyond ASCII (İ lowers to i and a combining dot): CP1254 is CP1252 but for
#: six bytes, ğ ı ş Ğ İ Ş where CP1252 has ð ý þ Ð Ý Þ (CP1250: đ ý ţ Đ Ý Ţ).
TURKISH = "çğıöşüâîû\u0307"
#: ğ not after a vowel: no Turkish word writes it so.
TURKISH_MISSPELT = re.compile("(?<![aeıioöuüâîûAEIİOÖUÜ])[ğĞ]")
#: The letters only CP1254 writes at those bytes: a Turkish file spells words with them.
TURKISH_ONLY = frozenset("ğış\u0307")
#: The Cyrillic letters (of any language): a word of them and Latin letters is a misreading.
CYRILLIC = re.compile("[\u0400-\u04ff]")
_RUSSIAN = "абвгдежзийклмнопрстуфхцчшщъыьэюяё"
#: The letters of each language written in CP1251 or KOI8-R: a word's letters are one's.
CYRILLIC_ALPHABETS = tuple(
    frozenset(alphabet)
    for alphabet in (
        _RUSSIAN,
        "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя",  # Ukrainian
        "абвгдеёжзійклмнопрстуўфхцчшыьэюя",  # Belarusian
        "абвгдежзийклмнопрстуфхцчшщъьюя",  # Bulgarian
        "абвгдђежзијклљмнњопрстћуфхцчџш",  # Serbian
        "абвгдѓежзѕијклљмнњопрстќуфхцчџш",  # Macedonian
    )
)
#: Cyrillic vowels: a word of five letters or more has one.
CYRILLIC_VOWELS = frozenset("аеёиоуыэюяіїєў")
#: The letters of Cyrillic text most written (о е а и н т с р в л к): about 60% of a Russian,
#: Ukrainian, Bulgarian or Serbian text's letters; CP1251 read as KOI8-R (or back) trades
#: most for rare ones.
COMMON_CYRILLIC = frozenset("оеаинтсрвлк")
#: Share of common letters by which one Cyrillic reading must beat the other to be taken.
MIN_COMMON_MARGIN = 0.15
#: Signs written after a word: ordinals (Nº, 1ª), units (m², m³), marks (™, ®).
AFTER_WORD = "°²³™®©ºª"
#: Share of a reading's distinct words that may be misspelt (a code, a foreign name) and still
#: have it taken.
MAX_MISSPELT = 0.05


def european_readings(raw: bytes) -> dict[str, str]:
    """The code pages among CP1251, KOI8-R, CP1250, CP1252 and CP1254 whose words a file's bytes
    spell, each with its text (CP1252: words not misspelt, a rival of the others, not detected).
    CP1254 is judged on all its words (it reads most bytes as CP1252 does) and, when Turkish,
    outs a CP1250 or CP1252 rival whose accents need several languages."""
    texts = {}
    for name in ("cp1251", "koi8-r", "cp1250", "cp1252", "cp1254"):
        try:
            texts[name] = raw.decode(name)
        except UnicodeDecodeError:
            pass
    tokens = _tokens(raw)
    words = {name: _words(tokens, name) for name in texts}
    shared = _shared_words(words)
    if "cp1250" in shared:  # a word misspelt in both tells against both: G„vle, OrlŽans
        shared["cp1250"] = frozenset(w for w in shared["cp1250"] if not _garbled(w))
    found = {
        name: texts[name]
        for name in texts
        if name != "cp1254" and _spelt(name, words[name] - shared.get(name, frozenset()))
    }
    if "cp1254" in texts and _turkish(words["cp1254"]):
        found["cp1254"] = texts["cp1254"]
        for rival in ("cp1250", "cp1252"):  # read Turkish, each needs several languages
            if rival in found and not _one_language(words[rival], rival):
                del found[rival]
    if "cp1251" in found and "koi8-r" in found:
        cp1251, koi8 = _common_share(raw, "cp1251"), _common_share(raw, "koi8-r")
        if cp1251 >= koi8 + MIN_COMMON_MARGIN:
            del found["koi8-r"]
        elif koi8 >= cp1251 + MIN_COMMON_MARGIN:
            del found["cp1251"]
    return found


def _turkish(words: set[str]) -> bool:
    """Whether (nearly) all ``words`` (every word of a file read as CP1254) are spelt in Turkish
    and they write two of the letters only CP1254 has (ğ ı ş İ), ı among them: one alone
    (Novotnı, a Czech ``ý`` in a Western file) tells too little, and Icelandic þ ð read as ş ğ
    (Şorsteinn Guğni) without ı."""
    spelt = _spell_latin("cp1254")
    good = [w for w in words if spelt(w)]
    if not good or len(words) - len(good) > MAX_MISSPELT * len(words):
        return False
    letters = set("".join(good).lower())
    return "ı" in letters and len(TURKISH_ONLY & letters) >= 2


def _garbled(word: str) -> bool:
    """Whether ``word`` has letters and is no word of any language: a sign inside it or a
    lower-case letter before a capital (DOS CP850's ä and Mac Roman's é read as CP1250 or
    CP1252: ``G„vle``, ``OrlŽans``). A sign alone (``•``, ``‰``) is no word."""
    return any(ch.isalpha() for ch in word) and not _letters_only(word)


def _one_language(words: set[str], name: str) -> bool:
    """Whether the accented letters of all ``words`` (a file read as code page ``name``) are of
    one of its languages (German names aside): Turkish read as CP1252 mixes Icelandic ð þ ý
    with ç ü (``Doðan``, ``Kýlýç``), as CP1250 Romanian ţ and Croatian đ with ç."""
    accents = {ch for word in words for ch in word.lower() if not ch.isascii()}
    alphabets = CENTRAL_EUROPEAN if name == "cp1250" else WESTERN
    return any(accents <= set(alphabet) | set("äöüß") for alphabet in alphabets)


def _spelt(name: str, words: set[str]) -> bool:
    """Whether (nearly) all ``words`` (those of a file read as code page ``name`` that read
    otherwise in another) are spelt in its script, one of three letters or more among them."""
    cyrillic = name in ("cp1251", "koi8-r")
    # A Cyrillic letter alone is an initial (А.В.) or a word (в, и, с): in any reading
    words = {w for w in words if not (cyrillic and len(w) == 1)}
    spelt = _spell_cyrillic if cyrillic else _spell_latin(name)
    good = [w for w in words if spelt(w)]
    if len(words) - len(good) > MAX_MISSPELT * len(words):
        return False
    if name == "cp1252":
        return True  # a rival unless its words are misspelt: Nº reads Nş in CP1250
    return any(len(w) >= 3 for w in good)


def _tokens(raw: bytes) -> set[bytes]:
    """The distinct runs of a file's bytes between spaces and ASCII signs (digits, punctuation)
    that hold a byte above 0x7F: its words in any single-byte code page."""
    return {token for token in set(raw.translate(_SEPARATORS).split()) if not token.isascii()}


#: ASCII bytes that are not letters, and the no-break space (0xA0), read as spaces.
_SEPARATORS = bytes(
    b if (0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A or 0x80 <= b and b != 0xA0) else 0x20
    for b in range(256)
)


def _words(tokens: set[bytes], name: str) -> set[str]:
    """The distinct words ``tokens`` read as in code page ``name``, without the quotes and
    dashes around them nor the signs written after them. Signs and punctuation read inside a
    word stay in it: Polish ``ą`` read as CP1252 is ``¹`` (``kupuj¹cego``), Chinese read as
    CP1251 ``Нх·е``."""
    words = {token.decode(name).strip(AROUND_WORD).rstrip(AFTER_WORD) for token in tokens}
    return {word for word in words if not word.isascii()}


#: Quotes, dashes and marks written around a word (« » „ “ ” — ¿ ¡).
AROUND_WORD = "«»„“”‘’‚—–…¿¡"


def _letters_only(word: str) -> bool:
    """Whether ``word`` is letters alone, cased as words are: lower case, capitals, a capital
    and lower case, but for ASCII letters (``McDonald``). A wrong code page's reading mixes case
    (``ódŸ``, ``мНЛЕП``, ``БЦГч``)."""
    if not all(unicodedata.category(ch) in ("Lu", "Ll") and ch not in "µºª" for ch in word):
        return False
    for i in range(1, len(word)):
        ascii_pair = word[i - 1].isascii() and word[i].isascii()
        if word[i].isupper() and word[i - 1].islower() and not ascii_pair:
            return False
        if word[i].islower() and i >= 2 and word[i - 2 : i].isupper() and not ascii_pair:
            return False
    return True


def _spell_cyrillic(word: str) -> bool:
    lower = word.lower()
    if not _letters_only(word) or lower[0] in "ъьы":
        return False  # no word starts with a hard or soft sign (Hebrew read as CP1251: ъашйк)
    if len(word) >= 5 and not CYRILLIC_VOWELS & set(lower):
        return False  # abbreviations without vowels are short (НДС, ТЦ, ПВЗ)
    return any(set(lower) <= alphabet for alphabet in CYRILLIC_ALPHABETS)


def _spell_latin(name: str) -> Callable[[str], bool]:
    alphabets = {"cp1250": CENTRAL_EUROPEAN, "cp1254": (TURKISH,)}.get(name, WESTERN)

    def spelt(word: str) -> bool:
        if not _letters_only(word) or any(CYRILLIC.match(ch) for ch in word):
            return False
        accents = {ch for ch in word.lower() if not ch.isascii()}
        if len(word) == 1 and name == "cp1250":
            return False  # no Central European word is one accented letter (French 'à' is)
        if name == "cp1252" and "õ" in word.lower() and "õe" not in word.lower():
            return False  # Portuguese writes õ before e (-ões, põe); Hungarian ő read as õ
        if name == "cp1250" and CENTRAL_EUROPEAN_MISSPELT.search(word.lower()):
            return False  # Mac Roman's ü ø read as ź ż: Mźller, Sżren
        if name == "cp1254" and TURKISH_MISSPELT.search(word):
            return False  # ğ follows a vowel (Doğan, Muğla); Icelandic ð read as ğ: Sigurğsson
        if name == "cp1252" and (word[0] in "ðÐ" or word[-1] in "þÞ"):
            return False  # Icelandic starts no word with ð, ends none with þ; Turkish ğ ş can
        if name == "cp1252" and WESTERN_MISSPELT.search(word):
            return False  # Czech ě č read as ì è: Vìra, Dokonèeno
        return any(accents <= set(alphabet) for alphabet in alphabets)

    return spelt


def _shared_words(words: dict[str, set[str]]) -> dict[str, frozenset[str]]:
    """For CP1250 and CP1252 (of the code pages' ``words``), the words that read the same in
    both (``Müller``, ``Pâté``): they tell neither."""
    shared = {}
    for name, other in (("cp1250", "cp1252"), ("cp1252", "cp1250")):
        if name in words:
            shared[name] = frozenset(w for w in words[name] if _reads_same(w, name, other))
    return shared


def _reads_same(word: str, name: str, other: str) -> bool:
    try:
        return word.encode(name).decode(other) == word
    except UnicodeError:
        return False


def _common_share(raw: bytes, name: str) -> float:
    """Share of the Cyrillic letters of a file's first ``SAMPLE`` bytes, read as code page
    ``name``, that are of ``COMMON_CYRILLIC``."""
    counts = Counter(raw[:SAMPLE].decode(name, errors="ignore").lower())
    letters = sum(n for ch, n in counts.items() if CYRILLIC.match(ch))
    return sum(counts[ch] for ch in COMMON_CYRILLIC) / max(letters, 1)


#: Bytes of a file whose letters are counted.
SAMPLE = 1 << 20
