"""Legacy code pages detected by their script or words: Japanese CP932 without kana, Big5,
Turkish CP1254 and Czech/Hungarian CP1250 beside their look-alikes."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.encodings import decode
from features.mapping import IngestError

KANJI_ONLY = (
    "顧客番号,氏名,住所,商品名,金額,状態\n"
    "C1,佐藤 太郎,東京都,緑茶,1200,完了\n"
    "C2,鈴木 花子,大阪府,純米酒,3400,取消\n"
    "C3,高橋 一郎,名古屋市,醤油,560,発送済\n"
)
HALF_WIDTH = (
    "顧客番号,氏名,ﾌﾘｶﾞﾅ,住所,商品名,金額\n"
    "C1,山田 太郎,ﾔﾏﾀﾞ ﾀﾛｳ,東京都,ｺｰﾋｰ,480\n"
    "C2,吉田 大輔,ﾖｼﾀﾞ ﾀﾞｲｽｹ,大阪府,ﾎﾞｰﾙﾍﾟﾝ,120\n"
)


def _decoded(tmp_path: Path, text: str, encoding: str) -> tuple[str, str]:
    path = tmp_path / "orders.csv"
    raw = text.encode(encoding)
    path.write_bytes(raw)
    return decode(path, raw, None)


@pytest.mark.parametrize("text", [KANJI_ONLY, HALF_WIDTH, "id,city\n1,東京都\n2,大阪府\n"])
def test_a_japanese_export_without_full_width_kana_is_read_as_cp932(tmp_path, text):
    """Kanji alone, or kanji with half-width katakana (an old system's furigana), were refused
    (no kana to tell): 0 of 600 seeded files read, 600 of 600 now. Their kanji are JIS level 1,
    which no other detected encoding's bytes read as."""
    assert _decoded(tmp_path, text, "cp932") == (text, "cp932 (detected)")


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("id,name\n1,Šampon\n2,Šimon Žák\n", "cp1250"),  # Š + letter is a level-1 kanji
        ("id,name\n1,王伟\n2,李娜\n", "gb18030"),
        ("id,name\n1,김민준\n2,이서연\n", "cp949"),
        ("id,name\n1,สมชาย ใจดี\n", "cp874"),
    ],
)
def test_other_scripts_are_not_read_as_kana_less_japanese(tmp_path, text, encoding):
    """Bytes of other code pages that decode as CP932 give half-width katakana, level-2 kanji
    or kanji inside Latin words: never taken for Japanese."""
    try:
        _, used = _decoded(tmp_path, text, encoding)
    except IngestError:
        return
    assert not used.startswith("cp932")


def test_misspelt_half_width_katakana_are_no_japanese(tmp_path):
    """A voicing mark after a kana that takes none (ｱﾞ) is no Japanese spelling."""
    with pytest.raises(IngestError, match="orders.csv: not UTF-8"):
        _decoded(tmp_path, "id,name\n1,東京 ｱﾞｲ\n", "cp932")


def test_a_big5_export_is_read_as_big5(tmp_path):
    """A Taiwanese shop's orders in Big5 were refused (Big5 was only a rival to Thai): 0 of 600
    seeded files read, 600 of 600 now; Simplified Chinese stays GB18030."""
    text = (
        "訂單編號,客戶姓名,城市,商品名稱,金額,狀態\n"
        "T1,陳志明,台北市,珍珠奶茶,NT$120,已完成\n"
        "T2,林淑芬,高雄市,瑜珈墊,NT$899,已退貨\n"
    )
    assert _decoded(tmp_path, text, "big5") == (text, "big5 (detected)")
    chinese = "编号,状态\n1,已完成\n2,已取消\n"
    assert _decoded(tmp_path, chinese, "gb18030") == (chinese, "gb18030 (detected)")


def test_a_big5_name_that_reads_as_common_gb2312_is_not_guessed(tmp_path):
    """廖文雄 in Big5 reads 郭ゅ动 in GB18030, all GB2312 characters: it was read as Simplified
    Chinese (1 of 300 tiny files), garbled. Both readings are named now."""
    with pytest.raises(IngestError) as caught:
        _decoded(tmp_path, "id,name\n0,廖文雄\n", "big5")
    said = str(caught.value)
    assert "orders.csv: not UTF-8 text, and its bytes read as" in said
    assert "--encoding big5 reads Traditional Chinese 廖文雄" in said
    assert "--encoding gb18030 reads Chinese 郭ゅ动" in said


TRENDYOL_CP1254 = (
    "Müşteri No;Ad Soyad;Şehir;Ürün;Tutar;Durum\n"
    "C1;Ayşe Yılmaz;İstanbul;Çay bardağı;120,00;Teslim edildi\n"
    "C2;Mehmet Öztürk;Muğla;Kahve makinesi;2.450,90;İptal edildi\n"
    "C3;Zeynep Kılıç;Eskişehir;Havlu seti;310,00;İade edildi\n"
)


def test_a_turkish_cp1254_export_is_read(tmp_path):
    """A Turkish shop's CP1254 export (ş ğ ı İ) was refused: 0 of 300 seeded files read, 300 of
    300 now (tiny files of 1-6 rows 1 -> 275 of 300, the rest refused naming both readings)."""
    assert _decoded(tmp_path, TRENDYOL_CP1254, "cp1254") == (TRENDYOL_CP1254, "cp1254 (detected)")


@pytest.mark.parametrize(
    "text",
    [
        "client,ville\nHélène Lefèvre,Besançon\n",
        "name,city\nNovotný Müller,Köln\n",  # one CP1254-only letter (ı) tells too little
        "nafn,borg\nGuðrún Þórsdóttir,Reykjavík\n",
        "name\nFrançois Þorsteinn\nGuðni\n",  # read Şorsteinn Guğni: no ı, the rival dropped
        "name\nFrançois Þorsteinsson\nSigurðsson\n",  # Sigurğsson: ğ after a consonant
    ],
)
def test_western_text_is_not_read_as_turkish(tmp_path, text):
    """Western (CP1252) text is refused as before, never read as CP1254."""
    with pytest.raises(IngestError, match="orders.csv: not UTF-8"):
        _decoded(tmp_path, text, "cp1252")


def test_a_few_turkish_words_that_read_as_icelandic_are_not_guessed(tmp_path):
    """Yıldız İstanbul reads Yýldýz Ýstanbul in CP1252, Icelandic letters: both named."""
    with pytest.raises(IngestError) as caught:
        _decoded(tmp_path, "ad,sehir\nYıldız,İstanbul\n", "cp1254")
    said = str(caught.value)
    assert "--encoding cp1254 reads Turkish Yıldız" in said
    assert "--encoding cp1252 reads Western European Yýldýz" in said


@pytest.mark.parametrize(
    "text",
    [
        "Jméno,Stav\nVěra Nováková,Dokončeno\n",  # Vìra, Dokonèeno
        "Zákazník,Produkt\nOndřej Němec,Tričko\n",  # Nìmec
    ],
)
def test_a_few_czech_words_that_read_as_western_are_read_as_cp1250(tmp_path, text):
    """Czech ě and č read as CP1252 are ì inside a word and è before a vowel, which no Western
    word writes: such tiny files were refused as CP1250 or CP1252 (44 of 300), 12 now."""
    assert _decoded(tmp_path, text, "cp1250") == (text, "cp1250 (detected)")


def test_czech_words_that_read_as_western_words_are_still_not_guessed(tmp_path):
    """Tričko and Ondřej read Trièko and Ondøej, which French or Danish could write: both named."""
    with pytest.raises(IngestError, match="--encoding cp1250 reads Central European Tričko"):
        _decoded(tmp_path, "Produkt,Jméno\nTričko,Ondřej\n", "cp1250")


def test_the_encoding_is_told_by_a_sample_and_the_whole_file_decoded(tmp_path, monkeypatch):
    """Detection reads the first DETECTION_SAMPLE bytes (whole lines); it read the whole file,
    about a second per megabyte of kana-less Japanese or Thai. The file is then decoded whole:
    a later byte the detected code page has not is an error naming the file and the line."""
    import features.encodings as encodings

    seen: list[int] = []
    detect = encodings.readings
    monkeypatch.setattr(encodings, "readings", lambda raw: seen.append(len(raw)) or detect(raw))
    rows = "".join(f"C{i},佐藤 太郎,東京都,緑茶,{i}\n" for i in range(20_000))
    text = "顧客番号,氏名,住所,商品名,金額\n" + rows
    assert _decoded(tmp_path, text, "cp932") == (text, "cp932 (detected)")
    assert seen and max(seen) <= encodings.DETECTION_SAMPLE
    path = tmp_path / "late.csv"
    path.write_bytes(text.encode("cp932") + b"C9,\x81\n")
    with pytest.raises(IngestError, match=r"late\.csv: its first lines read as cp932 .*line 20002"):
        decode(path, path.read_bytes(), None)


def test_the_sample_starts_at_the_first_line_that_is_not_ascii(tmp_path):
    """An export whose first 256 KiB are English names and whose Turkish ones come later was
    told by those later rows when the whole file was read: the sample starts at them."""
    english = "".join(f"C{i},John Smith,London,{i}\n" for i in range(12_000))
    text = "id,name,city,amount\n" + english + TRENDYOL_CP1254.split("\n", 1)[1]
    assert len(english) > (1 << 18)
    assert _decoded(tmp_path, text, "cp1254") == (text, "cp1254 (detected)")


@pytest.mark.parametrize(
    "text", ["Imię,Miasto\nKamiński,Poznań\n", "Produkt,Kwota\nŚwieca,12 zł\nŚwieca zapachowa,9\n"]
)
def test_a_few_polish_words_that_read_as_western_are_read_as_cp1250(tmp_path, text):
    """Polish ń ś read as CP1252 are ñ before no vowel (Poznañ, Kamiñski) and œ before w
    (Œwieca), which no Spanish or French word writes: such tiny files were refused naming
    both code pages (34 of 300), 5 now."""
    assert _decoded(tmp_path, text, "cp1250") == (text, "cp1250 (detected)")


def test_a_sample_that_cannot_tell_is_followed_by_one_spread_over_the_file(tmp_path):
    """A CP1250 export sorted by country: 300 KiB of German names (the same bytes in CP1250 and
    CP1252) and then Polish ones. Read whole it was CP1250; its first 256 KiB alone tell
    nothing and it was refused as not UTF-8: a sample of lines spread over the file tells."""
    german = "".join(f"C{i},Müller,Schäfer,{i}\n" for i in range(14_000))
    polish = "".join(f"P{i},Wąsowski,Łukasz Żak,Małgorzata Ślęzak,{i}\n" for i in range(300))
    text = "id,name,city,amount\n" + german + polish
    assert len(german) > (1 << 18)
    assert _decoded(tmp_path, text, "cp1250") == (text, "cp1250 (detected)")


def test_a_utf8_file_with_one_stray_byte_is_not_sent_to_a_code_page(tmp_path):
    """A UTF-8 export of German names with one byte of another code page at line 50,000 (a row
    pasted from a CP1252 file): the error names the line and says the file is UTF-8 up to there,
    not 'pass --encoding cp1252', which reads every Müller before it as MÃ¼ller."""
    rows = [f"C{i},Müller,Groß,{i}" for i in range(60_000)]
    rows[49_998] += ",caf\xe9"
    path = tmp_path / "orders.csv"
    raw = (
        ("id,name,city,amount\n" + "\n".join(rows) + "\n")
        .encode()
        .replace(b"caf\xc3\xa9", b"caf\xe9")
    )
    path.write_bytes(raw)
    with pytest.raises(IngestError) as error:
        decode(path, raw, None)
    said = str(error.value)
    assert "orders.csv" in said and "line 50000: byte 0xe9" in said
    assert "UTF-8 up to line 50000" in said and "--encoding cp1252 for" not in said


@pytest.mark.parametrize(
    "text",
    [
        "id,name,note\n1,O’Neil,“Best” shop – London\n2,Ann’s,see p. 2…\n",
        "id,note\n1,don’t we’ll d’Arc L’Oréal\n".replace("é", "e"),
        "id,amount\n1,1\xa0234\n2,• 5\n",
    ],
)
def test_punctuation_every_windows_code_page_reads_alike_is_read(tmp_path, text):
    """An English Excel export whose only non-ASCII bytes are curly quotes, dashes, an ellipsis,
    a bullet or a no-break space: CP1250 to CP1258 and CP874 read them alike, so there is no
    code page to tell; it was refused, 'pass --encoding'. A Western letter still is."""
    assert _decoded(tmp_path, text, "cp1252") == (
        text,
        "cp1252 (detected: punctuation only, the same in every Windows code page)",
    )
    with pytest.raises(IngestError, match="not UTF-8 text"):
        _decoded(tmp_path, text + "3,Müller,x\n", "cp1252")


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("id,city\n1,Köln\n2,Bonn\n", "cp850"),
        ("id,day\n1,Mañana\n", "mac-roman"),
        ("id,name\n1,García Martínez\n", "mac-roman"),  # í is 0x92, CP1252's apostrophe
    ],
)
def test_letters_of_other_code_pages_on_those_bytes_are_not_read_as_punctuation(
    tmp_path, text, encoding
):
    """DOS CP850's ö and Mac Roman's ñ are the bytes of CP1252's ” and –, inside a word; Mac
    Roman's í CP1252's apostrophe where none is written (``Garc’a``; before: read, exit 0)."""
    with pytest.raises(IngestError, match="not UTF-8 text"):
        _decoded(tmp_path, text, encoding)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("id,name\n1,Ärzte GmbH\n", "cp1252"),
        ("id,name\n1,ÄRZTE\n", "cp1252"),
        ("id,x\n1,Äpfel\n2,Äther\n", "latin-1"),
        ("id,x\n1,Âge\n", "cp1252"),
        ("id,x\n1,©Acme\n", "cp1252"),
        ("id,t\n1,20°C\n", "cp1252"),
        ("id,name\n1,Niño\n", "cp850"),
    ],
)
def test_a_western_letter_before_latin_ones_is_not_read_as_big5(tmp_path, text, encoding):
    """Ä, Â, ° or © (0xA4-0xC6) and the ASCII letter after it make one common Big5 character:
    'Ärzte GmbH' was read as '礪zte GmbH' and '20°C' as '20蚓' (exit 0). A Big5 reading whose
    characters touch Latin letters, or of one character only, is no Chinese."""
    with pytest.raises(IngestError, match="not UTF-8 text"):
        _decoded(tmp_path, text, encoding)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("id,name,city\n1,Jürgen Müller,Zürich\n", "mac-roman"),  # Jźrgen Mźller, Zźrich
        ("id,name,city\n1,Søren Bjørn,Tromsø\n", "mac-roman"),  # Sżren Bjżrn, Tromsż
        ("id,name,city\n1,Renée Sørensen,München\n", "mac-roman"),  # RenŽe Sżrensen
        ("id,name,city\n1,Anna Østergaard,Gävle\n", "cp850"),  # ťstergaard, G„vle
        ("id,name,city\n1,Ólafur Åkesson,Göteborg\n", "cp850"),  # ŕlafur, G”teborg
        ("id,name,city\n1,Marie Åkesson,A Coruña,Kärcher\n", "cp437"),  # Źkesson, K„rcher
        ("id,name\n1,Øystein Østergaard\n", "cp850"),  # ťystein ťstergaard
        ("id,name\n1,Anna Løvland\n", "mac-roman"),  # Lżvland: Polish ż, and v
    ],
)
def test_a_dos_or_mac_western_export_is_not_read_as_cp1250(tmp_path, text, encoding):
    """Mac Roman's ü ø Ø read as CP1250 are Polish ź ż Ż after letters no Polish word writes them
    after (Mźnchen, Sżren); DOS CP850's Ó Ø Å are ŕ ť Ź starting a word. Their other words
    (G„vle, RenŽe) read the same in CP1252 and were left unjudged: 77 of 1,800 seeded DOS and
    Mac files (900 of 1-2,000 rows, 900 tiny) were read as CP1250 with exit 0, garbled. Such
    files are refused now, naming the file and --encoding (0 of 1,800 read as CP1250)."""
    with pytest.raises(IngestError, match="orders.csv: not UTF-8 text.*--encoding"):
        _decoded(tmp_path, text, encoding)


@pytest.mark.parametrize(
    "text", ["Imię,Miasto\nJóźwiak Koźmiński,Łódź\nŻak,Źródło\n", "Imię\nDżesika Mżawka\nRżysko\n"]
)
def test_polish_words_with_z_acute_and_z_dot_are_still_read_as_cp1250(tmp_path, text):
    """Polish writes ź after a vowel or d and starting źródło, ż after d r w z m ł l b."""
    assert _decoded(tmp_path, text, "cp1250") == (text, "cp1250 (detected)")


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("id,product\n1,Château\n", "cp850"),  # Chフeau: â and t read as one katakana
        ("id,name,city\n1,Martínez,Córdoba\n2,Château\n", "cp437"),  # Mart｡nez, C｢rdoba
        ("id,name,city\n1,Jörg Schröder,Saint-Étienne\n", "mac-roman"),  # J嗷g Schr單er
    ],
)
def test_a_dos_or_mac_western_export_is_not_read_as_japanese(tmp_path, text, encoding):
    """A DOS or Mac accent and the ASCII letter after it read as one CP932 character between two
    Latin letters; a file with any kana was taken for Japanese unjudged: 8 of 900 tiny seeded
    DOS/Mac files were read as CP932 with exit 0, garbled (0 now; 300 of 300 seeded Japanese
    files of Latin-mixed names such as Tシャツ, iPhoneケース still read, normal and tiny)."""
    with pytest.raises(IngestError, match="orders.csv: not UTF-8 text.*--encoding"):
        _decoded(tmp_path, text, encoding)
