"""Exports of Korean, Gulf, Russian, Turkish, Polish and Hebrew shops as they are written: their
encodings (CP949, CP1255), order statuses, currency marks, digits and times of day."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from features.contract import table_path
from features.csv_source import read_source
from features.ingest import ingest
from features.mapping import IngestError, load_mapping

CAFE24 = (
    "주문번호,주문일시,주문자 아이디,주문자명,상품명,총 결제금액,주문상태\n"
    '20240305-1,2024-03-05 14:02:11,minjun,김민준,무선 이어폰,"61,300",배송완료\n'
    '20240305-2,2024-03-05 15:19:44,seoyeon,이서연,텀블러 500ml,"226,000",취소\n'
    '20240306-3,2024-03-06 09:01:02,jiwoo,박지우,캠핑 의자,"35,900",구매확정\n'
    '20240307-4,2024-03-07 10:30:00,minjun,김민준,요가 매트,"49,000",반품\n'
    '20240308-5,2024-03-08 11:45:00,haeun,최하은,가습기,"89,000",환불\n'
)


def _ingest(
    tmp_path, text: str, map_file: dict, encoding: str = "utf-8"
) -> tuple[pd.DataFrame, str]:
    """Ingest ``text`` (an orders export) with a map file; the transactions and what was said."""
    path = tmp_path / "orders.csv"
    path.write_bytes(text.encode(encoding))
    (tmp_path / "map.yaml").write_text(yaml.safe_dump(map_file, allow_unicode=True), "utf-8")
    lines: list[str] = []
    mapping = load_mapping(map_file=tmp_path / "map.yaml")
    ingest(tmp_path / "out", transactions=path, mapping=mapping, log=lines.append)
    return pd.read_parquet(table_path(tmp_path / "out", "transactions")), "\n".join(lines)


def test_a_korean_cp949_export_is_detected_not_read_as_chinese(tmp_path):
    """A Cafe24 order file in CP949 was decoded as GB18030 (every Hangul syllable is two bytes
    of a common GB2312 character): its headers were Chinese gibberish and its 취소/반품/환불
    orders, unknown statuses, counted as sales."""
    path = tmp_path / "cafe24.csv"
    path.write_bytes(CAFE24.encode("cp949"))
    source = read_source(path)
    assert source.encoding == "cp949 (detected)"
    assert source.frame["주문상태"].tolist() == ["배송완료", "취소", "구매확정", "반품", "환불"]
    assert source.frame["주문자명"].tolist()[:2] == ["김민준", "이서연"]


def test_an_israeli_cp1255_export_is_detected_not_read_as_chinese(tmp_path):
    """A Hebrew Excel CSV (CP1255, short statuses, ₪ amounts) was decoded as GB18030."""
    path = tmp_path / "mechirot.csv"
    text = (
        "מספר הזמנה,תאריך,מספר לקוח,סטטוס,סכום\n"
        "105063,06/06/2022 21:19,00124,נשלח,₪276.27\n"
        '112491,10/06/2022 14:21,00365,סופק,"₪3,264.26"\n'
        "112492,11/06/2022 10:00,00366,בוטל,₪50.00\n"
    )
    path.write_bytes(text.encode("cp1255"))
    source = read_source(path)
    assert source.encoding == "cp1255 (detected)"
    assert source.frame["סטטוס"].tolist() == ["נשלח", "סופק", "בוטל"]


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        # Western lower-case accents are CP1255's letters, beside Latin ones
        ("cliente,cidade\nJoão,São Paulo\nConceição,Maringá\nAssunção,Belém\n", "cp1252"),
        ("kunde,ort\nMüller,Köln\nGröße,Zürich\nPeña,Málaga\n", "latin-1"),
        # Cyrillic lower case is CP1255's letters too, with final forms inside words
        ("код,город\n1,москва\n2,казань\n3,томск\n", "cp1251"),
        # Polish letters and the next ASCII one make CP949 syllables
        ("login,miasto\nkupujący,Łódź\nsprzedający,Kraków\nwysłane,Gdańsk\n", "cp1250"),
        # French with 'à' alone as its only accent: a lone alef in CP1255, no Hebrew word
        (
            "commande,mode,montant\n"
            + "".join(f"{i},retrait à J+1,{i}.50\n" for i in range(20))
            + "".join(f"{i},livraison à domicile,{i}.50\n" for i in range(20, 40)),
            "cp1252",
        ),
        # Chinese of the GB2312 rows that CP949 reads as Hangul, too few to tell
        ("编号,客户\n1,等待卖家发货\n2,客户拜访\n", "gbk"),
    ],
)
def test_other_single_byte_and_chinese_text_is_not_taken_for_korean_or_hebrew(
    tmp_path, text, encoding
):
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode(encoding))
    try:
        found = read_source(path).encoding
    except IngestError:
        found = None
    assert found not in ("cp949 (detected)", "cp1255 (detected)")


#: A greengrocer's kana product names whose CP932 bytes all decode as CP949 too: hiragana and
#: most katakana are lead byte 0x82/0x83, the rows of Hangul syllables only CP949's extension has
KANA_PRODUCTS = (
    "すいか りんご みかん いちご ぶどう もも なし かき さくらんぼ ゆず うめぼし たけのこ キウイ "
    "メロン バナナ レモン パイナップル オレンジ キャベツ にんじん たまねぎ じゃがいも"
).split()


def test_a_japanese_kana_export_is_not_read_as_korean(tmp_path):
    """A CP932 file of kana product names was detected as cp949 and read as Hangul ("궥궋궔"
    for すいか), silently: Korean text is the 2,350 common syllables of KS X 1001, kana read
    as CP949 are syllables of the extension only."""
    rows = [
        f"O{i},2024-05-{1 + i % 28:02d},C{i % 7},{p},{i % 5 + 1},{120 * (i + 1)}"
        for i, p in enumerate(KANA_PRODUCTS)
    ]
    text = "order_id,ordered_at,customer_id,product,qty,amount\n" + "\n".join(rows) + "\n"
    path = tmp_path / "yaoya.csv"
    path.write_bytes(text.encode("cp932"))
    assert text.encode("cp932").decode("cp949")  # the trap: CP949 decodes every byte of it
    source = read_source(path)
    assert source.encoding == "cp932 (detected)"
    assert source.frame["product"].tolist() == KANA_PRODUCTS


@pytest.mark.parametrize(
    ("text", "encoding", "words"),
    [
        ("id,customer,city\n1,김민준,서울\n2,이서연,부산\n3,박지우,서울\n", "cp949", "김민준"),
        ("编号,客户\n1,等待卖家发货\n2,客户拜访\n", "gbk", "等待卖家发货"),
    ],
)
def test_a_few_words_that_read_as_korean_and_as_chinese_are_not_guessed(
    tmp_path, text, encoding, words
):
    """Three Korean customers in CP949 were detected as gb18030 and read as "苯刮霖", silently:
    every KS X 1001 syllable is two bytes of a common GB2312 character, and a few Chinese
    characters of those rows read as Hangul. The file is refused, each reading shown, and
    --encoding reads it."""
    path = tmp_path / "customers.csv"
    path.write_bytes(text.encode(encoding))
    with pytest.raises(IngestError) as caught:
        read_source(path)
    said = str(caught.value)
    assert said.startswith(f"{path}: ")
    assert "--encoding cp949" in said and "--encoding gb18030" in said
    assert words in said  # the right reading, beside the wrong one
    assert (
        text.splitlines()[1].split(",")[1]
        in read_source(path, encoding=encoding).frame.iloc[:, 1].tolist()
    )


def test_the_encoding_hint_names_the_korean_hebrew_cyrillic_and_central_european_ones(tmp_path):
    """A file whose encoding is not detected (Western, CP1252) is refused as not UTF-8: the hint
    names the encodings to pass, as an unknown --encoding's message does."""
    path = tmp_path / "kunden.csv"
    path.write_bytes("Kunde;Ort\nMüller;Köln\nGroß;Zürich\n".encode("cp1252"))
    with pytest.raises(IngestError, match="cp1251 for Cyrillic") as caught:
        read_source(path)
    for name in ("cp1250", "cp949", "cp1255"):
        assert name in str(caught.value)
    assert read_source(path, encoding="cp1252").frame["Ort"].tolist() == ["Köln", "Zürich"]
    from features.encodings import check_encoding

    with pytest.raises(IngestError, match="cp949.*cp1250, cp1251 or cp1255"):
        check_encoding("euc-kr-windows")


#: A 1C / Bitrix24 / amoCRM orders export: Russian headers, customers, cities and statuses.
RUSSIAN_ORDERS = (
    "Номер;Дата;Контрагент;Город;Номенклатура;Сумма;Статус\n"
    "ЗК-1;05.03.2024;ООО «Ромашка»;Москва;Чайник электрический;2490,00;Выполнен\n"
    "ЗК-2;06.03.2024;Иванов Иван Петрович;Санкт-Петербург;Кофе в зёрнах 1 кг;1290,00;Отменён\n"
    "ЗК-3;07.03.2024;ИП Смирнов А.В.;Казань;Услуги доставки;350,00;Оплачен\n"
)


@pytest.mark.parametrize(
    ("text", "encoding", "column", "values"),
    [
        (RUSSIAN_ORDERS, "cp1251", "Статус", ["Выполнен", "Отменён", "Оплачен"]),
        (
            RUSSIAN_ORDERS.replace("«", '"').replace("»", '"'),
            "koi8-r",
            "Город",
            ["Москва", "Санкт-Петербург", "Казань"],
        ),
        (
            "Номер,Клієнт,Місто\n1,Шевченко Олена,Київ\n2,Ткаченко Євген,Львів\n",
            "cp1251",
            "Місто",
            ["Київ", "Львів"],
        ),
        (
            "Номер,Клиент,Град\n1,Иван Петров,София\n2,Мария Георгиева,Пловдив\n",
            "cp1251",
            "Град",
            ["София", "Пловдив"],
        ),
        (
            "Број,Купац,Град\n1,Милош Јовановић,Београд\n2,Ана Ђорђевић,Ниш\n",
            "cp1251",
            "Купац",
            ["Милош Јовановић", "Ана Ђорђевић"],
        ),
    ],
)
def test_a_cyrillic_export_is_read_in_its_encoding(tmp_path, text, encoding, column, values):
    """A 1C or Bitrix24 export in Windows-1251 (or KOI8-R) was refused as not UTF-8, and the
    odd tiny one was read as Chinese or Hebrew: its words are Cyrillic only in its own code page
    (Windows-1252 reads Выполнен as Âûïîëíåí, KOI8-R as бШОНКМЕМ)."""
    path = tmp_path / "zakazy.csv"
    path.write_bytes(text.encode(encoding))
    source = read_source(path)
    assert source.encoding == f"{encoding} (detected)"
    assert source.frame[column].tolist() == values


@pytest.mark.parametrize(
    ("text", "column", "values"),
    [
        (
            "Login kupującego;Miejscowość;Status\nanna;Łódź;Wysłane\npiotr;Kraków;Anulowane\n",
            "Miejscowość",
            ["Łódź", "Kraków"],
        ),
        (
            "Číslo;Zákazník;Město\n1;Jiří Dvořák;Plzeň\n2;Tereza Černá;Ústí nad Labem\n",
            "Zákazník",
            ["Jiří Dvořák", "Tereza Černá"],
        ),
        (
            "Sorszám;Vevő neve;Település\n1;Molnár Győző;Győr\n2;Kiss Tünde;Pécs\n",
            "Vevő neve",
            ["Molnár Győző", "Kiss Tünde"],
        ),
    ],
)
def test_a_central_european_export_is_read_as_cp1250(tmp_path, text, column, values):
    """A BaseLinker, Pohoda or Számlázz.hu export in Windows-1250 was refused as not UTF-8: read
    as Windows-1252 its words hold signs (kupuj¹cego, £ódŸ) or accents no Western language
    writes together (Dvoøák, Gyõr)."""
    path = tmp_path / "zamowienia.csv"
    path.write_bytes(text.encode("cp1250"))
    source = read_source(path)
    assert source.encoding == "cp1250 (detected)"
    assert source.frame[column].tolist() == values


@pytest.mark.parametrize(
    "text",
    [
        "client,ville,produit\nHélène Lefèvre,Besançon,Crème brûlée\nChloé,Orléans,Bière\n",
        "Kunde,Ort\nJürgen Müller,München\nKäthe Schröder,Köln\n",
        "cliente,ciudad\nJosé Peña,Logroño\nMaría Núñez,Málaga\n",
        "Nº Pedido,Cliente,Situação\n1,João Simões,Devolução\n2,Conceição,Entregue\n",
        "kunde,by\nSøren Ødegård,Århus\nÅsa Öberg,Malmö\n",
        "STATUT;VILLE\nLIVRÉE;CRÉTEIL\nANNULÉE;ORLÉANS\n",
    ],
)
def test_a_western_export_is_never_read_as_cyrillic_or_central_european(tmp_path, text):
    """Western text (CP1252) reads as Cyrillic (Mьller) or Central European (Crčme) too: it is
    refused as before, naming --encoding cp1252, never read in another code page."""
    path = tmp_path / "clients.csv"
    path.write_bytes(text.encode("cp1252"))
    with pytest.raises(IngestError, match=r"clients\.csv: not UTF-8 text.*--encoding cp1252"):
        read_source(path)


@pytest.mark.parametrize("words", [["Статус"], ["Москва", "Номенклатура", "Услуги доставки"]])
def test_a_few_cyrillic_words_are_not_taken_for_chinese(tmp_path, words):
    """Cyrillic words of even length in CP1251 read as GB18030 too (Статус as 羊囹篑): a tiny
    1C export was read as Chinese, then refused as ambiguous. Lower-case Cyrillic is bytes of
    GB2312's level 2, the rare characters, which Chinese text hardly writes."""
    path = tmp_path / "klienty.csv"
    path.write_bytes(
        ("id,name\n" + "".join(f"{i},{w}\n" for i, w in enumerate(words))).encode("cp1251")
    )
    source = read_source(path)
    assert source.encoding == "cp1251 (detected)"
    assert source.frame["name"].tolist() == words
    chinese = tmp_path / "kehu.csv"
    chinese.write_bytes("编号,客户\n1,王峰\n2,张晓东\n3,林明\n".encode("gbk"))
    assert read_source(chinese).frame["客户"].tolist() == ["王峰", "张晓东", "林明"]


def test_a_few_hebrew_words_are_not_taken_for_cyrillic(tmp_path):
    """Hebrew letters in CP1255 are the bytes of lower-case Cyrillic in CP1251 (קפה reads
    чфд) and of capitals in KOI8-R: a file of a few Hebrew words is still read as Hebrew."""
    path = tmp_path / "lakochot.csv"
    path.write_bytes("id,name\n0,סופק\n1,תל אביב\n2,קפה\n".encode("cp1255"))
    source = read_source(path)
    assert source.encoding == "cp1255 (detected)"
    assert source.frame["name"].tolist() == ["סופק", "תל אביב", "קפה"]


def test_a_few_words_that_read_as_central_european_and_western_are_not_guessed(tmp_path):
    """One French customer's name reads as Czech in CP1250 (Hélène as Hélčne): refused, the
    file, both encodings and the words each gives named."""
    path = tmp_path / "clients.csv"
    path.write_bytes("id,nom\n1,Hélène\n".encode("cp1252"))
    with pytest.raises(IngestError) as caught:
        read_source(path)
    said = str(caught.value)
    assert said.startswith(f"{path}: not UTF-8 text, and its bytes read as 2 encodings")
    assert "--encoding cp1250 reads Central European Hélčne" in said
    assert "--encoding cp1252 reads Western European Hélène" in said


def test_a_taiwanese_big5_export_is_detected(tmp_path):
    """A Big5 order file (Traditional Chinese, Taiwan's and Hong Kong's Windows code page) was
    refused with a hint naming --encoding big5; its common characters now tell it."""
    names = ["陳志明", "林淑芬", "黃建宏", "張雅婷", "李家豪", "王美玲", "吳俊傑", "劉怡君"]
    cities = ["台北市", "新北市", "台中市", "高雄市", "台南市", "桃園市", "新竹市", "基隆市"]
    text = "訂單編號,客戶姓名,城市,金額\n" + "".join(
        f"T{i},{n},{c},{100 * i}\n" for i, (n, c) in enumerate(zip(names, cities, strict=True))
    )
    path = tmp_path / "dingdan.csv"
    path.write_bytes(text.encode("big5"))
    source = read_source(path)
    assert source.encoding == "big5 (detected)"
    assert source.frame["客戶姓名"].tolist() == names


TRENDYOL = (
    "Sipariş Numarası;Sipariş Tarihi;Müşteri ID;Sipariş Statüsü;Faturalanacak Tutar\n"
    "1;03.06.2022 13:46;C1;Teslim Edildi;455,10\n"
    "2;04.06.2022 10:00;C2;İptal Edildi;2.364,42\n"
    "3;05.06.2022 11:00;C1;İade Edildi;100,00\n"
    "4;06.06.2022 12:00;C3;TAMAMLANDI;50,00\n"
)


def test_turkish_dotted_i_and_russian_yo_fold_as_typed(tmp_path):
    """A values: key typed ``iptal edildi`` did not match Trendyol's ``İptal Edildi`` (case
    folding keeps İ's dot: ``i̇ptal``), nor a column named ``SIPARIŞ STATÜSÜ`` the file's
    ``Sipariş Statüsü``; ``Отменен`` did not match 1C's ``Отменён``."""
    columns = {
        "customer_id": "MÜŞTERİ ID",
        "ordered_at": "SİPARİŞ TARİHİ",
        "amount": "Faturalanacak Tutar",
        "order_id": "Sipariş Numarası",
        "status": "SIPARIŞ STATÜSÜ",
    }
    values = {"iptal edildi": "cancelled", "iade edildi": "refunded", "tamamlandı": "completed"}
    tx, _ = _ingest(tmp_path, TRENDYOL, {"columns": columns, "values": {"status": values}})
    assert sorted(tx["order_id"]) == ["1", "4"]
    assert tx["amount"].sum() == pytest.approx(505.10)
    from features.values import fold

    assert fold("Отменён") == fold("ОТМЕНЕН") and fold("İADE") == fold("iade") == fold("IADE")


@pytest.mark.parametrize(
    ("status", "meaning"),
    [
        *[(s, "cancelled") for s in ["취소", "취소완료", "ملغي", "ملغى", "Отменён", "Отменен"]],
        *[(s, "cancelled") for s in ["Закрыто и не реализовано", "İptal Edildi", "İPTAL"]],
        *[(s, "cancelled") for s in ["Anulowane", "Anulowano", "בוטל"]],
        *[(s, "refunded") for s in ["반품", "반품완료", "환불", "환불완료", "مسترجع", "مرتجع"]],
        *[(s, "refunded") for s in ["تم الإسترجاع", "تم الاسترجاع", "مسترد", "Возврат"]],
        *[(s, "refunded") for s in ["İade Edildi", "iade", "Zwrot", "Zwrócone", "הוחזר"]],
        *[(s, "completed") for s in ["구매확정", "배송완료", "تم التوصيل", "Выполнен"]],
        *[(s, "completed") for s in ["Teslim Edildi", "Tamamlandı", "Zakończone", "הושלם"]],
        *[(s, "completed") for s in ["Отгружен", "جاري التوصيل", "جاهز", "Gotowe do wysyłki"]],
        *[(s, "open") for s in ["입금대기", "بانتظار الدفع", "Ожидает оплаты"]],
        *[(s, "open") for s in ["Ödeme Bekleniyor", "Oczekuje na płatność"]],
    ],
)
def test_order_statuses_of_korean_arabic_russian_turkish_polish_and_hebrew_shops(status, meaning):
    """These exports' cancelled and returned orders, unknown statuses, counted as sales."""
    from features.values import STATUS_SYNONYMS, ValueMapping

    assert ValueMapping({}, True, STATUS_SYNONYMS).lookup(status) == (meaning, "built-in")


def test_a_cafe24_export_without_a_map_file_s_values_counts_only_its_sales(tmp_path):
    """Korean revenue was 1.167 times the truth: cancelled and returned orders were sales."""
    columns = {
        "customer_id": "주문자 아이디",
        "ordered_at": "주문일시",
        "amount": "총 결제금액",
        "order_id": "주문번호",
        "status": "주문상태",
    }
    tx, said = _ingest(tmp_path, CAFE24, {"columns": columns}, encoding="cp949")
    assert sorted(tx["order_id"]) == ["20240305-1", "20240306-3"]
    assert tx["amount"].sum() == 61_300 + 35_900
    assert "read as completed" not in said


@pytest.mark.parametrize(
    ("values", "numbers", "currency"),
    [
        (["35,900원", "₩1,200", "249,900 원"], [35900, 1200, 249900], "KRW"),
        (
            ["33 154,98 ₽", "62 150,55 руб.", "1 000 р.", "RUB 12,50"],
            [33154.98, 62150.55, 1000, 12.5],
            "RUB",
        ),
        (["455,10 TL", "₺2.364,42", "TL 10,00"], [455.10, 2364.42, 10.0], "TRY"),
        (["3 815,47 zł", "12,00 zł"], [3815.47, 12.0], "PLN"),
        (["₪276.27", "₪3,264.26", '50.00 ש"ח', "ILS 1.50"], [276.27, 3264.26, 50.0, 1.5], "ILS"),
        (["362.14 ر.س", "﷼ 70.64", "SAR 1,000.00"], [362.14, 70.64, 1000.0], "SAR"),
        (["AED 1,184.63", "804.88 د.إ"], [1184.63, 804.88], "AED"),
    ],
)
def test_won_rouble_lira_zloty_shekel_riyal_and_dirham_amounts_parse(values, numbers, currency):
    """Whole files were refused, every row "amount is not a number", for these marks."""
    from features.numbers import detect_format, parse_numbers

    column = pd.Series(values, dtype="string")
    fmt, _ = detect_format([column], None)
    parsed, codes = parse_numbers(column, fmt)
    assert parsed.tolist() == pytest.approx(numbers)
    assert set(codes) == {currency}


def test_short_marks_are_no_marks_inside_words_or_other_text():
    """``TL`` and ``р.`` are a mark only as the whole text beside a number."""
    from features.numbers import NumberFormat, parse_numbers

    column = pd.Series(
        ["5 TLX", "ATL 5", "5 TL TL", "5 р.р.", "5 тр.", "5 зл", "TL"], dtype="string"
    )
    parsed, _ = parse_numbers(column, NumberFormat(",", "."))
    assert parsed.isna().all()


def test_arabic_indic_digits_and_separators_are_numbers():
    """A Gulf POS writes ``١٩٠٫٨٢``: every amount was "not a number"."""
    from features.numbers import detect_format, parse_numbers

    column = pd.Series(["١٩٠٫٨٢", "٣٠٫٣٧", "١٬٢٣٤٫٥٠", "۱۲۳", "12.50"], dtype="string")
    fmt, _ = detect_format([column], None)
    assert parse_numbers(column, fmt)[0].tolist() == [190.82, 30.37, 1234.5, 123.0, 12.5]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # Zid: ص before noon, م after; spelt out too
        (
            [
                "2022/09/11 02:56 م",
                "2022/09/12 12:04 ص",
                "2022/09/13 06:04 صباحاً",
                "2022/09/13 12:30 مساءً",
            ],
            ["2022-09-11 14:56", "2022-09-12 00:04", "2022-09-13 06:04", "2022-09-13 12:30"],
        ),
        # Arabic-Indic digits
        (["١٥/٠٩/٢٠٢٢ ١١:٥٠", "٢٠٢٢/٠٩/١٦ ٠٩:٠٥"], ["2022-09-15 11:50", "2022-09-16 09:05"]),
        # Korean: 오전/오후 and 년 월 일 (a Korean Excel's 2024. 3. 5.)
        (
            [
                "2024-03-05 오후 2:02:11",
                "2024-03-05 오전 12:10",
                "2024년 3월 6일",
                "2024. 3. 7. 오후 1:00",
            ],
            ["2024-03-05 14:02", "2024-03-05 00:10", "2024-03-06 00:00", "2024-03-07 13:00"],
        ),
    ],
)
def test_arabic_and_korean_times_of_day_and_digits_in_dates(values, expected):
    from features.dates import detect_order, parse_dates

    column = pd.Series(values, dtype="string")
    stamps, _ = parse_dates(column, detect_order([column], None, False))
    assert stamps.dt.strftime("%Y-%m-%d %H:%M").tolist() == expected


def test_hijri_dates_are_named_not_called_placeholders(tmp_path):
    """A Saudi POS's ``١٤٤٤/٠٢/١٣`` (AH) dates were "a placeholder for a missing date"."""
    text = (
        "رقم الفاتورة,التاريخ,رقم البطاقة,الإجمالي\n١,١٤٤٤/٠٢/١٣,C1,١٩٠٫٨٢\n٢,١٤٤٤/٠٢/١٧,C2,٣٠٫٣٧\n"
    )
    columns = {
        "order_id": "رقم الفاتورة",
        "ordered_at": "التاريخ",
        "customer_id": "رقم البطاقة",
        "amount": "الإجمالي",
    }
    with pytest.raises(IngestError, match=r"Hijri \(AH\) year such as 1444 \(AH 1444 is 2022-2023"):
        _ingest(tmp_path, text, {"columns": columns})


def test_polish_cp1250_read_as_cp1252_is_named(tmp_path):
    """BaseLinker's CP1250 file read with --encoding cp1252: the map's 'Login kupującego' was
    not found, and the only hint was "did you mean 'Login kupuj¹cego'?"."""
    path = tmp_path / "baselinker.csv"
    path.write_bytes("Login kupującego;Status\nanna;Wysłane\n".encode("cp1250"))
    notes = read_source(path, encoding="cp1252").notes
    assert any("'kupuj¹cego': cp1250 read as cp1252?" in n for n in notes)
    assert not any("cp1250 read" in n for n in read_source(path, encoding="cp1250").notes)
    spanish = tmp_path / "es.csv"  # ¿ opens a Spanish question, outside a word
    spanish.write_bytes("pregunta,precio\n¿Qué tal?,3¹\n".encode("cp1252"))
    assert not any("cp1250 read" in n for n in read_source(spanish, encoding="cp1252").notes)


def test_a_cancelled_row_with_a_hijri_date_is_a_cancelled_order(tmp_path):
    """A row the export cancels is set aside as the cancelled order it is, whatever its date
    holds: a Hijri year (named as such since the dates were read) as a placeholder was."""
    rows = "".join(f"{i},2024-01-{i:02d},C{i},10,paid\n" for i in range(1, 9))
    text = "order,date,customer,total,state\n" + rows + "9,1444/02/13,C9,10,cancelled\n"
    columns = {
        "order_id": "order",
        "ordered_at": "date",
        "customer_id": "customer",
        "amount": "total",
        "status": "state",
    }
    accepted, said = _ingest(tmp_path, text, {"columns": columns})
    assert len(accepted) == 8
    assert (
        "cancelled order 1" in said or "'cancelled order': 1" in said or "cancelled order" in said
    )
    quarantined = pd.read_parquet(tmp_path / "out" / "quarantine" / "transactions.parquet")
    assert quarantined["reason"].tolist() == ["cancelled order"]


@pytest.mark.parametrize("given", ["cp1252", "latin-1"])
def test_cyrillic_cp1251_read_as_western_is_named(tmp_path, given):
    """A 1C export in CP1251 read with --encoding cp1252 (or latin-1) read 'Ðåäàêöèÿ' for
    'Редакция' without a word: its columns were not found, its statuses unknown."""
    path = tmp_path / "1c.csv"
    path.write_bytes("Номер;Статус;Редакция\n1;Выполнен;Москва\n".encode("cp1251"))
    notes = read_source(path, encoding=given).notes
    said = [n for n in notes if "--encoding cp1251" in n]
    assert len(said) == 1
    assert "1c.csv" in said[0] and "'Ñòàòóñ' is 'Статус'" in said[0]
    assert not any("cp1251" in n for n in read_source(path, encoding="cp1251").notes)
    for name, text in (
        ("fr.csv", "client;ville;statut\nHélène Lefèvre;Orléans;Livrée\nÉlodie;Besançon;Payée\n"),
        ("de.csv", "Kunde;Ort\nMüller;Köln\nGroß;Zürich\nÖzdemir;Düsseldorf\n"),
        ("nordic.csv", "kund;ort\nÅsa Ørsted;Malmö\nJón Þórsson;Reykjavík\n"),
    ):
        western = tmp_path / name
        western.write_bytes(text.encode("cp1252"))
        assert not any("cp1251" in n for n in read_source(western, encoding=given).notes)


@pytest.mark.parametrize("names", [["楊佩珊"], ["楊佩珊", "梁承恩"]])
def test_a_few_big5_names_that_read_as_thai_are_not_guessed(tmp_path, names):
    """A Big5 file of a few names read as Thai CP874 (楊佩珊 as ทจจุฌภ): 27 of 300 tiny Big5
    files were so misread. Refused, both readings named; a Thai file is still detected."""
    path = tmp_path / "kehu.csv"
    path.write_bytes(
        ("id,name\n" + "".join(f"{i},{n}\n" for i, n in enumerate(names))).encode("big5")
    )
    with pytest.raises(IngestError) as caught:
        read_source(path)
    said = str(caught.value)
    assert said.startswith(f"{path}: not UTF-8 text, and its bytes read as 2 encodings")
    assert f"--encoding big5 reads Traditional Chinese {names[0]}" in said
    assert "--encoding cp874 reads Thai" in said
    thai = tmp_path / "thai.csv"
    thai.write_bytes("id,name\n1,สมชาย ใจดี\n2,กาแฟเย็น\n".encode("cp874"))
    assert read_source(thai).encoding == "cp874 (detected)"


@pytest.mark.parametrize("names", [["電子鍋", "許文雄"], ["西瓜", "黃建宏", "鄭麗華"]])
def test_big5_names_whose_thai_reading_is_misspelt_are_read_as_big5(tmp_path, names):
    """Their Thai reading has a Latin letter inside a Thai word (Big5's second bytes 0x40-0x7E:
    電子 reads นqคl, 鄭麗 พGฤR) or ๅ after a letter other than ฤ (文 reads คๅ): no Thai, so
    Big5 is read; before, such files were refused naming both."""
    path = tmp_path / "kehu.csv"
    text = "id,name\n" + "".join(f"{i},{n}\n" for i, n in enumerate(names))
    path.write_bytes(text.encode("big5"))
    source = read_source(path)
    assert source.encoding == "big5 (detected)"
    assert source.frame["name"].tolist() == names
