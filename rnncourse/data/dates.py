"""Dates written by people, in four languages, to translate into ISO 8601
('YYYY-MM-DD').

A small translation task made offline (the classic toy task for attention, as
in the date-normalisation exercises that followed Bahdanau et al. 2015): the
source is a date as someone might write it, in English, French, German or
Spanish, with digits, month names or every number spelled out, sometimes
inside a sentence; the target is always the ten characters of its ISO form.
The target reorders the source (day-month-year becomes year-month-day) and
has a different length, and the sentences give a long-input regime
(up to about 120 characters) in which one context vector is not enough.

Dates run from 1950-01-01 to 2049-12-31, so that a two-digit year is never
ambiguous (50-99 means 19xx, 00-49 means 20xx). Each split owns its own
dates: no date of the test set appears in training, in any form.
"""

from __future__ import annotations

import datetime
import random
import string
from dataclasses import dataclass

import torch

FIRST_DAY, LAST_DAY = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
LANGUAGES = ("en", "fr", "de", "es")
STYLES = ("digits", "month name", "spelled out", "in a sentence")
STYLE_WEIGHTS = (0.25, 0.35, 0.15, 0.25)

# --------------------------------------------------------------------------
# Words: months, weekdays, and numbers from 1 to 99 in each language
# --------------------------------------------------------------------------

MONTHS = {
    "en": (
        "January February March April May June July August September October "
        "November December"
    ).split(),
    "fr": (
        "janvier février mars avril mai juin juillet août septembre octobre "
        "novembre décembre"
    ).split(),
    "de": (
        "Januar Februar März April Mai Juni Juli August September Oktober "
        "November Dezember"
    ).split(),
    "es": (
        "enero febrero marzo abril mayo junio julio agosto septiembre octubre "
        "noviembre diciembre"
    ).split(),
}
MONTHS_SHORT = {
    "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(),
    "fr": "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.".split(),
    "de": "Jan. Feb. Mär. Apr. Mai Jun. Jul. Aug. Sep. Okt. Nov. Dez.".split(),
    "es": "ene. feb. mar. abr. may. jun. jul. ago. sep. oct. nov. dic.".split(),
}
WEEKDAYS = {  # Monday first, as datetime.date.weekday() counts
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
    "fr": "lundi mardi mercredi jeudi vendredi samedi dimanche".split(),
    "de": "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag".split(),
    "es": "lunes martes miércoles jueves viernes sábado domingo".split(),
}

EN_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
FR_ONES = (
    "zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze "
    "quinze seize dix-sept dix-huit dix-neuf"
).split()
FR_TENS = "_ _ vingt trente quarante cinquante soixante".split()
DE_ONES = (
    "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn "
    "vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn"
).split()
DE_TENS = "_ _ zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig".split()
ES_ONES = (
    "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce "
    "quince dieciséis diecisiete dieciocho diecinueve veinte veintiuno veintidós "
    "veintitrés veinticuatro veinticinco veintiséis veintisiete veintiocho veintinueve"
).split()
ES_TENS = "_ _ _ treinta cuarenta cincuenta sesenta setenta ochenta noventa".split()


def number_en(n: int) -> str:
    """1-99 in English words: 21 -> 'twenty-one'."""
    tens, ones = divmod(n, 10)
    return (
        EN_ONES[n] if n < 20 else EN_TENS[tens] + (f"-{EN_ONES[ones]}" if ones else "")
    )


def ordinal_en(n: int) -> str:
    """1-31 as an English ordinal word: 21 -> 'twenty-first', 30 -> 'thirtieth'."""
    *head, last = number_en(n).split("-")
    irregular = {
        "one": "first",
        "two": "second",
        "three": "third",
        "five": "fifth",
        "eight": "eighth",
        "nine": "ninth",
        "twelve": "twelfth",
    }
    last = irregular.get(last) or (
        last[:-1] + "ieth" if last.endswith("y") else last + "th"
    )
    return "-".join([*head, last])


def number_fr(n: int) -> str:
    """1-99 in French words: 71 -> 'soixante et onze', 80 -> 'quatre-vingts',
    91 -> 'quatre-vingt-onze'."""
    if n < 20:
        return FR_ONES[n]
    if n <= 60:
        tens, ones = divmod(n, 10)
        return FR_TENS[tens] + (
            "" if ones == 0 else " et un" if ones == 1 else f"-{FR_ONES[ones]}"
        )
    if (
        n < 80
    ):  # 61-79 count on from sixty: soixante-dix, soixante et onze, soixante-douze
        return "soixante" + (
            " et un" if n == 61 else " et onze" if n == 71 else f"-{FR_ONES[n - 60]}"
        )
    return "quatre-vingts" if n == 80 else f"quatre-vingt-{FR_ONES[n - 80]}"


def number_de(n: int) -> str:
    """1-99 in German words, units before tens: 21 -> 'einundzwanzig'."""
    tens, ones = divmod(n, 10)
    if n < 20 or ones == 0:
        return DE_ONES[n] if n < 20 else DE_TENS[tens]
    return ("ein" if ones == 1 else DE_ONES[ones]) + "und" + DE_TENS[tens]


def ordinal_de(n: int) -> str:
    """1-31 as a German ordinal after 'am': 1 -> 'ersten', 3 -> 'dritten',
    21 -> 'einundzwanzigsten'."""
    irregular = {1: "ersten", 3: "dritten", 7: "siebten", 8: "achten"}
    return irregular.get(n) or number_de(n) + ("ten" if n < 20 else "sten")


def number_es(n: int) -> str:
    """1-99 in Spanish words: 21 -> 'veintiuno', 45 -> 'cuarenta y cinco'."""
    tens, ones = divmod(n, 10)
    return (
        ES_ONES[n]
        if n < 30
        else ES_TENS[tens] + (f" y {ES_ONES[ones]}" if ones else "")
    )


def year_in_words(year: int, lang: str, rng: random.Random) -> str:
    """A year from 1950 to 2049 in words, in one of the ways people say it."""
    century, rest = divmod(year, 100)
    if lang == "en":
        if century == 19:
            return f"nineteen {number_en(rest)}"
        if rest >= 10 and rng.random() < 0.4:
            return f"twenty {number_en(rest)}"
        return "two thousand" + (
            rng.choice([" ", " and "]) + number_en(rest) if rest else ""
        )
    if lang == "fr":
        if century == 19:
            return rng.choice(
                ["mille neuf cent ", "mil neuf cent ", "dix-neuf cent "]
            ) + number_fr(rest)
        return "deux mille" + (f" {number_fr(rest)}" if rest else "")
    if lang == "de":
        return ("neunzehnhundert" if century == 19 else "zweitausend") + (
            number_de(rest) if rest else ""
        )
    return ("mil novecientos" if century == 19 else "dos mil") + (
        f" {number_es(rest)}" if rest else ""
    )


# --------------------------------------------------------------------------
# Styles: one function per way of writing a date
# --------------------------------------------------------------------------


def write_digits(d: datetime.date, lang: str, rng: random.Random) -> str:
    """'21.03.2019', '21/3/19', '2019/03/21': day first (or ISO-like year first), never
    month first."""
    sep = (
        {"de": ".", "fr": "/", "es": "/", "en": "/"}[lang]
        if rng.random() < 0.7
        else rng.choice("/.- ")
    )
    day, month = (
        (f"{d.day:02d}", f"{d.month:02d}")
        if rng.random() < 0.6
        else (str(d.day), str(d.month))
    )
    year = str(d.year) if rng.random() < 0.7 else f"{d.year % 100:02d}"
    if len(year) == 4 and rng.random() < 0.15:
        return sep.join([year, f"{d.month:02d}", f"{d.day:02d}"])
    return sep.join([day, month, year])


def write_month_name(d: datetime.date, lang: str, rng: random.Random) -> str:
    """'Thursday, March 21st, 2019', '21. März 2019', 'le 1er mars 2019', '21 de marzo
    de 2019'."""
    month = (MONTHS if rng.random() < 0.7 else MONTHS_SHORT)[lang][d.month - 1]
    year = str(d.year)
    if lang == "en":
        suffix = {
            1: "st",
            2: "nd",
            3: "rd",
            21: "st",
            22: "nd",
            23: "rd",
            31: "st",
        }.get(d.day, "th")
        day = str(d.day) + (suffix if rng.random() < 0.4 else "")
        text = rng.choice(
            [
                f"{day} {month} {year}",
                f"{month} {day}, {year}",
                f"{month} {day} {year}",
                f"the {day} of {month} {year}",
            ]
        )
    elif lang == "fr":
        day = "1er" if d.day == 1 and rng.random() < 0.7 else str(d.day)
        text = f"{day} {month} {year}"
    elif lang == "de":
        text = rng.choice([f"{d.day}. {month} {year}", f"{d.day}. {month}, {year}"])
    else:
        text = rng.choice([f"{d.day} de {month} de {year}", f"{d.day} {month} {year}"])
    if rng.random() < 0.3:  # a weekday in front: true, but redundant
        weekday = WEEKDAYS[lang][d.weekday()]
        text = f"{weekday}, {text}" if lang in ("en", "de") else f"{weekday} {text}"
    return text


def write_spelled_out(d: datetime.date, lang: str, rng: random.Random) -> str:
    """Day and year in words: 'the twenty-first of March, two thousand nineteen',
    'ersten März zweitausend'."""
    month, year = MONTHS[lang][d.month - 1], year_in_words(d.year, lang, rng)
    if lang == "en":
        return rng.choice(
            [
                f"the {ordinal_en(d.day)} of {month}, {year}",
                f"{month} {ordinal_en(d.day)}, {year}",
                f"{month} the {ordinal_en(d.day)} {year}",
            ]
        )
    if lang == "fr":
        day = "premier" if d.day == 1 else number_fr(d.day)
        return f"{day} {month} {year}"
    if lang == "de":
        return f"{ordinal_de(d.day)} {month} {year}"
    day = "primero" if d.day == 1 and rng.random() < 0.5 else number_es(d.day)
    return f"{day} de {month} de {year}"


SENTENCES = {
    "en": [
        "please note that the meeting has been moved to {}, thank you",
        "the invoice we sent you last week is due on {} at the latest",
        "my grandmother was born on {} in a small village by the sea",
        "our office will be closed on {} for the public holiday",
    ],
    "fr": [
        "veuillez noter que la réunion a été déplacée au {}, merci",
        "la facture envoyée la semaine dernière est à régler avant le {}",
        "ma grand-mère est née le {} dans un petit village au bord de la mer",
        "nos bureaux seront fermés le {} pour le jour férié",
    ],
    "de": [
        "bitte beachten Sie, dass das Treffen auf den {} verschoben wurde",
        "die Rechnung von letzter Woche ist spätestens bis zum {} zu bezahlen",
        "meine Großmutter wurde am {} in einem kleinen Dorf am Meer geboren",
        "unser Büro bleibt am {} wegen des Feiertags geschlossen",
    ],
    "es": [
        "tenga en cuenta que la reunión se ha trasladado al {}, gracias",
        "la factura de la semana pasada vence el {} como muy tarde",
        "mi abuela nació el {} en un pequeño pueblo junto al mar",
        "nuestra oficina estará cerrada el {} por el día festivo",
    ],
}


def write_in_a_sentence(d: datetime.date, lang: str, rng: random.Random) -> str:
    """A date in any other style, inside a sentence that says nothing else about it."""
    writer = rng.choice([write_digits, write_month_name, write_spelled_out])
    return rng.choice(SENTENCES[lang]).format(writer(d, lang, rng))


WRITERS = dict(
    zip(
        STYLES, (write_digits, write_month_name, write_spelled_out, write_in_a_sentence)
    )
)


# 'le 21 mars', 'am 21. März'
ARTICLES = {
    "en": "",
    "fr": "le ",
    "de": "am ",
    "es": "el ",
}


def write_date(d: datetime.date, lang: str, style: str, rng: random.Random) -> str:
    """One human-written form of ``d`` in language ``lang`` (one of LANGUAGES) and
    ``style`` (one of STYLES).

    The writers leave out the article, which the sentences supply; a date on
    its own gets one sometimes (always when German spells out the day), and
    a date with a month name is sometimes written in capitals.
    """
    if lang not in LANGUAGES or style not in WRITERS:
        raise ValueError(
            f"lang must be one of {LANGUAGES} and style one of {STYLES}, got {lang!r} "
            f"and {style!r}"
        )
    text = WRITERS[style](d, lang, rng)
    if (
        style == "spelled out"
        and lang == "de"
        or style in ("month name", "spelled out")
        and rng.random() < 0.4
    ):
        text = ARTICLES[lang] + text
    return text.upper() if style == "month name" and rng.random() < 0.1 else text


# --------------------------------------------------------------------------
# Examples and splits
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One pair to translate, with how its source was written."""

    source: str
    target: str  # 'YYYY-MM-DD'
    lang: str
    style: str


def all_dates() -> list[datetime.date]:
    """Every date from FIRST_DAY to LAST_DAY (36,525 of them)."""
    return [
        FIRST_DAY + datetime.timedelta(days=i)
        for i in range((LAST_DAY - FIRST_DAY).days + 1)
    ]


def make_examples(
    dates: list[datetime.date], n: int, rng: random.Random
) -> list[Example]:
    """``n`` examples, each a date drawn from ``dates`` in a random language
    and style."""
    examples = []
    for _ in range(n):
        d, lang = rng.choice(dates), rng.choice(LANGUAGES)
        style = rng.choices(STYLES, STYLE_WEIGHTS)[0]
        examples.append(
            Example(write_date(d, lang, style, rng), d.isoformat(), lang, style)
        )
    return examples


@dataclass
class DateSplits:
    """Training, validation and test examples whose dates never overlap."""

    train: list[Example]
    val: list[Example]
    test: list[Example]


def date_splits(
    n_train: int = 30_000, n_val: int = 1_000, n_test: int = 2_000, seed: int = 0
) -> DateSplits:
    """Shuffle all dates with ``seed``, give 80% to training and 10% each to validation
    and test, then write ``n_*`` examples from each split's own dates. Same seed,
    same examples."""
    if min(n_train, n_val, n_test) < 1:
        raise ValueError(
            f"every split needs at least one example, got {n_train}, {n_val}, {n_test}"
        )
    rng = random.Random(seed)
    dates = all_dates()
    rng.shuffle(dates)
    a, b = int(0.8 * len(dates)), int(0.9 * len(dates))
    return DateSplits(
        make_examples(dates[:a], n_train, rng),
        make_examples(dates[a:b], n_val, rng),
        make_examples(dates[b:], n_test, rng),
    )


# --------------------------------------------------------------------------
# Tokens and batches
# --------------------------------------------------------------------------

PAD, SOS, EOS = "<pad>", "<sos>", "<eos>"
SOURCE_CHARS = (
    string.ascii_letters
    + string.digits
    + " ,.-/"
    + "áàâäçéèêëíîïñóôöúûüß"
    + "áàâäçéèêëíîïñóôöúûü".upper()
)
TARGET_CHARS = string.digits + "-"


class Tokenizer:
    """Characters to integer ids and back, with padding (id 0), start (1) and end
    (2) symbols."""

    def __init__(self, chars: str):
        self.symbols = [PAD, SOS, EOS, *sorted(set(chars))]
        self.index = {s: i for i, s in enumerate(self.symbols)}
        self.pad, self.sos, self.eos = 0, 1, 2

    def __len__(self) -> int:
        return len(self.symbols)

    def encode(self, text: str, sos: bool = False, eos: bool = False) -> list[int]:
        """str -> ids, with the start and end symbols around it if asked."""
        unknown = sorted(set(text) - self.index.keys())
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {unknown!r}")
        return [self.sos] * sos + [self.index[c] for c in text] + [self.eos] * eos

    def decode(self, ids) -> str:
        """ids (list or 1-D tensor) -> str, stopping at the first end symbol and
        skipping start and padding."""
        out = []
        for i in torch.as_tensor(ids).tolist():
            if i == self.eos:
                break
            if i not in (self.pad, self.sos):
                out.append(self.symbols[i])
        return "".join(out)

    def tokens(self, ids) -> list[str]:
        """ids -> one printable token per id, for the axes of a figure."""
        return [self.symbols[i] for i in torch.as_tensor(ids).tolist()]


def pad_sequences(
    seqs: list[list[int]], pad: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lists of ids -> (ids (B, L) int64 padded with ``pad``, mask (B, L) bool, True on
    real tokens)."""
    if not seqs or min(map(len, seqs)) == 0:
        raise ValueError("pad_sequences needs at least one sequence, and no empty ones")
    L = max(map(len, seqs))
    # (B, L)
    ids = torch.tensor([s + [pad] * (L - len(s)) for s in seqs], dtype=torch.long)
    # (B, L)
    mask = torch.arange(L)[None, :] < torch.tensor([len(s) for s in seqs])[:, None]
    return ids, mask


@dataclass
class Batch:
    """A padded batch. src, src_mask: (B, S); tgt_in, tgt_out: (B, T),
    tgt_in = [<sos>, y], tgt_out = [y, <eos>]."""

    src: torch.Tensor  # (B, S) int64 source ids, padded with 0
    src_mask: torch.Tensor  # (B, S) bool, True on real characters
    tgt_in: torch.Tensor  # (B, T) int64: what the decoder reads under teacher forcing
    tgt_out: torch.Tensor  # (B, T) int64: what it must predict, padded with 0


class DateBatches:
    """The examples of one split, encoded once, from which batches are cut."""

    def __init__(self, examples: list[Example], src_tok: Tokenizer, tgt_tok: Tokenizer):
        self.examples = examples
        # (N, S_max)
        self.src, self.src_mask = pad_sequences(
            [src_tok.encode(e.source) for e in examples]
        )
        # (N, T + 2)
        tgt, _ = pad_sequences(
            [tgt_tok.encode(e.target, sos=True, eos=True) for e in examples]
        )
        self.tgt_in, self.tgt_out = tgt[:, :-1], tgt[:, 1:]
        self.lengths = self.src_mask.sum(1)  # (N,) source lengths in characters
        # (N,) example indices, shortest first
        self.by_length = self.lengths.argsort(stable=True)

    def __len__(self) -> int:
        return len(self.examples)

    def batch(self, index: torch.Tensor) -> Batch:
        """The examples at ``index`` (B,), their source trimmed to the longest one
        among them."""
        S = int(self.lengths[index].max())
        return Batch(
            self.src[index, :S],
            self.src_mask[index, :S],
            self.tgt_in[index],
            self.tgt_out[index],
        )

    def similar_length_batch(
        self, batch_size: int, generator: torch.Generator
    ) -> Batch:
        """``batch_size`` neighbours in length order, from a random place: little
        padding, so a batch of short sentences costs little (bucketing)."""
        start = int(
            torch.randint(0, len(self) - batch_size + 1, (1,), generator=generator)
        )
        return self.batch(self.by_length[start : start + batch_size])

    def batches(self, batch_size: int):
        """Every example once, shortest first, in batches of ``batch_size``
        (the last may be smaller).

        Yields (index (B,), Batch): the examples' positions in the split, to put results
        back in order.
        """
        for index in self.by_length.split(batch_size):
            yield index, self.batch(index)


def date_tokenizers() -> tuple[Tokenizer, Tokenizer]:
    """The source tokenizer (letters of the four languages, digits, punctuation) and the
    target one (digits and '-')."""
    return Tokenizer(SOURCE_CHARS), Tokenizer(TARGET_CHARS)
