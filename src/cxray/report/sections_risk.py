"""The report's risk summary: how many active customers have a high, medium or low risk of
leaving, how many are expected to leave (with its 95% range), the reasons met most often among
the high-risk customers, and the ten riskiest customers with their reasons — not the whole list
(``cxray risk DIR --format csv`` gives it)."""

from __future__ import annotations

from typing import Any

from cxray.analysis.risk import BANDS
from cxray.analysis.risk_reasons import reason_counts
from cxray.report.collect import ReportData
from cxray.report.sections import Card, Item, NotEnoughData, Part, Section, Table
from cxray.report.sections_why import why_not
from cxray.report.text import number, percent, say

TOP_CUSTOMERS = 10
TOP_REASONS = 5
BAND_WORDS = {
    "high": ("High risk", "Hoog risico"),
    "medium": ("Medium risk", "Gemiddeld risico"),
    "low": ("Low risk", "Laag risico"),
}
SEP = "__"  # how the risk features name their parts (cxray.analysis.risk_reasons)


def t(lang: str, en: str, nl: str) -> str:
    return nl if lang == "nl" else en


def reason_name(key: str, journey: Any, lang: str) -> str:
    """A reason group (``tp__delivery``, ``score__nps``, ``bad_experiences`` …) in words."""
    kind, _, name = key.partition(SEP)
    if kind == "tp":
        spec = journey.touchpoints.get(name)
        label = (spec.label if spec is not None and spec.label else None) or name
        return t(lang, f"how often {label} happened", f"hoe vaak {label} voorkwam")
    if kind == "score":
        return t(lang, f"latest {name.upper()} answer", f"laatste {name.upper()}-antwoord")
    words = {
        "segment": ("segment", "segment"),
        "days_since_last_event": (
            "time since the last activity",
            "tijd sinds de laatste activiteit",
        ),
        "tenure_days": ("time as a customer", "klantduur"),
        "bad_experiences": ("bad experiences so far", "slechte ervaringen tot nu toe"),
    }
    en, nl = words.get(kind, (key, key))
    return t(lang, en, nl)


def risk_summary(data: ReportData, lang: str) -> Section:
    outcome = data.outcomes.get("risk")
    missing = why_not(outcome, lang)
    title = say(lang, "risk_title")
    if missing is not None:
        return Section("risk", title, empty=missing)
    result = outcome.result
    frame = result.frame
    if frame.empty:
        raise NotEnoughData("no_active")
    section = Section("risk", title, result.summary(lang))
    low_cut, high_cut = result.cuts
    ranges = {
        "high": t(lang, f"probability {percent(high_cut, lang, 1)} or more",
                  f"kans {percent(high_cut, lang, 1)} of meer"),
        "medium": t(lang, f"probability {percent(low_cut, lang, 1)} to {percent(high_cut, lang, 1)}",
                    f"kans {percent(low_cut, lang, 1)} tot {percent(high_cut, lang, 1)}"),
        "low": t(lang, f"probability under {percent(low_cut, lang, 1)}",
                 f"kans onder {percent(low_cut, lang, 1)}"),
    }  # fmt: skip
    active = len(frame)
    within = t(lang, f"within {result.horizon_days} days", f"binnen {result.horizon_days} dagen")
    for band, (en, nl) in BAND_WORDS.items():
        count = int((frame["band"] == band).sum())
        section.cards.append(
            Card(
                label=t(lang, en, nl),
                score=number(count, lang),
                interval=ranges[band],
                answers=t(lang, f"{percent(count / active, lang)} of {number(active, lang)} active customers",
                          f"{percent(count / active, lang)} van {number(active, lang)} actieve klanten"),
                note=within,
                too_few=False,
            )
        )  # fmt: skip
    section.cards.append(
        Card(
            label=t(lang, "Expected to leave", "Verwacht te vertrekken"),
            score=number(result.expected, lang),
            interval=say(lang, "interval", low=number(result.expected_low, lang),
                         high=number(result.expected_high, lang)),
            answers=t(lang, f"of {number(active, lang)} active customers",
                      f"van {number(active, lang)} actieve klanten"),
            note=t(lang, f"{within}, if the probabilities hold",
                   f"{within}, als de kansen kloppen"),
            too_few=False,
        )
    )  # fmt: skip
    section.parts.append(_reasons(data, frame, lang))
    top = frame.head(TOP_CUSTOMERS)
    bands = {band: words[lang] for band, words in BANDS.items()}
    section.table = Table(
        [t(lang, "customer", "klant"), t(lang, "risk", "risico"), t(lang, "band", "band"),
         t(lang, "reasons", "redenen")],
        [[str(row["customer_id"]), percent(row["probability"], lang, 1),
          bands.get(row["band"], str(row["band"])),
          str(row["reasons_nl"] if lang == "nl" else row["reasons"])]
         for _, row in top.iterrows()],
        [False, True, False, False],
    )  # fmt: skip
    if active > TOP_CUSTOMERS:
        section.notes.append(
            t(lang, f"The {TOP_CUSTOMERS} riskiest of {number(active, lang)} active customers; "
                    "cxray risk DIR --format csv gives them all.",
              f"De {TOP_CUSTOMERS} met het hoogste risico van {number(active, lang)} actieve "
              "klanten; cxray risk DIR --format csv geeft ze allemaal.")
        )  # fmt: skip
    section.notes.append(
        t(lang, "A reason is what raises that customer's own risk most, from their own data; "
                "associations, not proven causes.",
          "Een reden is wat het risico van die klant zelf het meest verhoogt, uit diens eigen "
          "gegevens; verbanden, geen bewezen oorzaken.")
    )  # fmt: skip
    return section


def _reasons(data: ReportData, frame: Any, lang: str) -> Part:
    """The reasons met most often among the high-risk customers (the reasons the risk analysis
    gave each of them, counted)."""
    part = Part("reasons", t(lang, "Top reasons among high-risk customers",
                             "Meest genoemde redenen bij klanten met een hoog risico"))  # fmt: skip
    counted, total = reason_counts(frame, "high")
    if not counted:
        part.missing = t(lang, "No high-risk customer has a reason that stands out.",
                         "Geen klant met een hoog risico heeft een reden die eruit springt.")  # fmt: skip
        return part
    ranked = counted[:TOP_REASONS]
    part.items = [
        Item(f"{reason_name(key, data.journey, lang)}: {number(n, lang)} "
             + t(lang, f"of {number(total, lang)} high-risk customers",
                 f"van {number(total, lang)} klanten met een hoog risico"))
        for key, n in ranked
    ]  # fmt: skip
    return part
