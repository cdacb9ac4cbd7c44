"""The report's journey canvas: the phases as columns filled in by the data (touchpoints with
volume and score, experience, pain points, drop-off to the next phase, the text lanes a
workshop wrote on the web canvas), the emotion curve, pain points and opportunities.

Everything shown is what :func:`cxray.analysis.canvas.canvas` gave; a lane it could not fill
says why in one line, as on the web canvas.
"""

from __future__ import annotations

from typing import Any

from cxray.cells import score
from cxray.i18n import text_of
from cxray.report.canvas_chart import emotion_curve, face
from cxray.report.collect import ReportData
from cxray.report.sections import (
    Column,
    Item,
    Lane,
    NotEnoughData,
    Part,
    Section,
    _metric_name,
    _need,
)
from cxray.report.text import number, percent, say

THEMES_SHOWN = 8  # themes of unhappy comments listed, as on the web canvas


def t(lang: str, en: str, nl: str) -> str:
    return nl if lang == "nl" else en


def _note(notes: dict[tuple[str, str], Any], lane: str, key: str) -> str:
    note = notes.get((lane, key))
    return note.text.strip() if note is not None and note.text else ""


def _touchpoint(tp: dict[str, Any], notes: dict[tuple[str, str], Any], lang: str) -> Item:
    facts = [
        f"{number(tp['events'], lang)} {t(lang, 'interactions', 'interacties')} · "
        f"{number(tp['customers'], lang)} {t(lang, 'customers', 'klanten')}"
        + (f" · {tp['channel']}" if tp.get("channel") else "")
    ]
    if tp.get("metric"):
        signed = tp["metric"] == "nps"
        low, high = (score(tp[k], tp["unit"], lang, signed) for k in ("low", "high"))
        line = (
            f"{_metric_name(tp['metric'])} {score(tp['score'], tp['unit'], lang, signed)} "
            f"(95%: {low}–{high}, n = {number(tp['n'], lang)})"
        )
        if tp.get("score_too_few"):
            line += " · " + t(lang, "few answers", "weinig antwoorden")
        facts.append(line)
    if tp.get("experience") is not None:
        line = f"{t(lang, 'experience', 'beleving')} {number(tp['experience'], lang)}/100"
        if tp.get("experience_low") is not None:
            line += f" ({number(tp['experience_low'], lang)}–{number(tp['experience_high'], lang)})"
        facts.append(line)
    bad = (tp.get("bad_events") or 0) + (tp.get("low_answers") or 0)
    if bad:
        facts.append(
            f"{t(lang, 'bad experience', 'slechte ervaring')} {number(bad, lang)}× · "
            f"{number(tp['bad_customers'], lang)} {t(lang, 'customers', 'klanten')}"
        )
    if tp.get("churn"):
        facts.append(t(lang, "means the customer left", "betekent dat de klant vertrok"))
    facts.append(
        f"{t(lang, 'Owner', 'Eigenaar')}: {tp.get('owner') or t(lang, 'none yet', 'nog geen')}"
    )
    owner_note = _note(notes, "owner_note", tp["touchpoint"])
    if owner_note:
        facts.append(f"{t(lang, 'Owner note', 'Notitie van de eigenaar')}: {owner_note}")
    mood = face(tp.get("mood"))
    return Item(
        text=(f"{mood} " if mood else "") + str(tp["label"]),
        tag=t(lang, "bad experience", "slechte ervaring") if tp.get("bad_experience") else "",
        tag_kind="bad",
        facts=facts,
    )


def _column(phase: dict[str, Any], notes: dict[tuple[str, str], Any], lang: str) -> Column:
    key = phase["phase"]
    facts = f"{number(phase['touchpoint_count'], lang)} {t(lang, 'touchpoints', 'contactmomenten')}"
    if phase.get("reached") is not None:
        reached = f"{number(phase['reached'], lang)} {t(lang, 'customers reached it', 'klanten bereikten deze fase')}"
        facts = f"{reached} · {facts}"
    lanes: list[Lane] = []
    for lane, en, nl in (
        ("persona", "Persona", "Persona"),
        ("goal", "Customer goal", "Doel van de klant"),
    ):
        text = _note(notes, lane, key)
        if text:  # a text lane only where the workshop filled it in
            lanes.append(Lane(t(lang, en, nl), [Item(text)]))
    lanes.append(
        Lane(
            t(lang, "Touchpoints", "Contactmomenten"),
            [_touchpoint(tp, notes, lang) for tp in phase["touchpoints"]],
            t(lang, "No touchpoint in this phase.", "Geen contactmoment in deze fase."),
        )
    )
    experience = Lane(
        t(lang, "Experience", "Beleving"),
        empty=t(lang, "No scored answers here.", "Geen antwoorden met een score hier."),
    )
    if phase.get("experience") is not None:
        facts_line = (
            f"95%: {number(phase['experience_low'], lang)}–{number(phase['experience_high'], lang)}"
            f" · n = {number(phase['experience_n'], lang)}"
        )
        if phase.get("too_few"):
            facts_line += " · " + t(lang, "few answers", "weinig antwoorden")
        mood = face(phase.get("mood"))
        experience.items.append(
            Item(f"{mood} {number(phase['experience'], lang)}/100".strip(), facts=[facts_line])
        )
    lanes.append(experience)
    sore = sorted(
        (tp for tp in phase["touchpoints"] if tp.get("bad_customers")),
        key=lambda tp: -tp["bad_customers"],
    )
    lanes.append(
        Lane(
            t(lang, "Pain points", "Pijnpunten"),
            [
                Item(
                    f"{tp['label']}: {number(tp['bad_customers'], lang)} {t(lang, 'customers', 'klanten')}"
                )
                for tp in sore
            ],
            t(lang, "No bad experiences recorded.", "Geen slechte ervaringen vastgelegd."),
        )
    )
    drop = Lane(t(lang, "Drop-off to the next phase", "Uitval naar de volgende fase"))
    if phase.get("next_phase"):
        drop.items.append(
            Item(
                f"{percent(phase['drop_share'], lang)} · {number(phase['dropped'], lang)} "
                f"{t(lang, 'of', 'van')} {number(phase['reached'], lang)}",
                facts=[
                    f"95%: {percent(phase['drop_low'], lang)}–{percent(phase['drop_high'], lang)}"
                    f" · {number(phase['censored'], lang)} {t(lang, 'still in progress', 'nog onderweg')}"
                ],
            )
        )
    else:
        drop.empty = (
            t(lang, "Not in the funnel.", "Niet in de trechter.")
            if key == "unassigned"
            else t(lang, "Last phase.", "Laatste fase.")
        )
    lanes.append(drop)
    text = _note(notes, "notes", key)
    if text:
        lanes.append(Lane(t(lang, "Notes", "Notities"), [Item(text)]))
    title = phase.get("label_nl") if lang == "nl" else phase.get("label")
    return Column(str(title or key), facts, lanes)


def _unhappy_themes(data: dict[str, Any], lang: str) -> Part | None:
    pain = data["pain_points"]
    if not pain["themes"]:
        return None
    comments = number(pain["unhappy_comments"], lang)
    part = Part(
        "themes",
        t(lang, "What unhappy customers write about", "Waar ontevreden klanten over schrijven"),
        notes=[
            t(
                lang,
                f"Themes in {comments} comments whose answer is a bad experience; the share "
                "with its 95% interval.",
                f"Thema’s in {comments} opmerkingen bij een antwoord dat een slechte ervaring "
                "is; het aandeel met zijn 95%-interval.",
            )
        ],
    )
    part.items = [
        Item(
            f"{theme['label_nl'] if lang == 'nl' else theme['label']}: "
            f"{number(theme['comments'], lang)} {t(lang, 'comments', 'opmerkingen')} "
            f"({percent(theme['share'], lang)}, 95%: {percent(theme['share_low'], lang)}–"
            f"{percent(theme['share_high'], lang)}) · {number(theme['customers'], lang)} "
            f"{t(lang, 'customers', 'klanten')}"
        )
        for theme in pain["themes"][:THEMES_SHOWN]
    ]
    return part


def _pain_points(data: dict[str, Any], lang: str) -> Part:
    pain = data["pain_points"]
    part = Part("pain", t(lang, "Pain points", "Pijnpunten"))
    for tp in pain["touchpoints"]:
        counts = []
        if tp.get("bad_events"):
            counts.append(
                f"{number(tp['bad_events'], lang)} "
                + t(lang, "bad-experience events", "interacties met slechte ervaring")
            )
        if tp.get("low_answers"):
            counts.append(
                f"{number(tp['low_answers'], lang)} {t(lang, 'low scores', 'lage scores')}"
            )
        owner = f" · {tp['owner']}" if tp.get("owner") else ""
        part.items.append(
            Item(
                f"{tp['label']}: {number(tp['bad_customers'], lang)} "
                f"{t(lang, 'customers', 'klanten')} ({', '.join(counts)}){owner}"
            )
        )
    if pain["no_touchpoint_low_answers"]:
        part.paragraphs.append(
            f"{number(pain['no_touchpoint_low_answers'], lang)} "
            + t(
                lang,
                "low scores at no touchpoint (the relationship as a whole).",
                "lage scores zonder contactmoment (de relatie als geheel).",
            )
        )
    if pain["dose_response"]:
        part.notes.append(text_of(pain["dose_response"]["sentence"][lang], lang))
    if not pain["touchpoints"] and not pain["themes"]:
        part.missing = t(
            lang, "No bad experiences in this data.", "Geen slechte ervaringen in deze gegevens."
        )
    return part


def _opportunities(result: Any, lang: str) -> Part:
    part = Part("opportunities", t(lang, "Opportunities", "Kansen"))
    chances = result.opportunities
    if chances is None:
        why = result.failed.get("drivers", result.failed.get("opportunities", ""))
        part.missing = say(lang, "cannot_compute", reason=text_of(why, lang).rstrip("."))
        return part
    if not len(chances.frame):
        part.paragraphs.append(chances.summary(lang))
        return part
    for row in chances.frame.itertuples():
        quick = row.horizon == "quick_win"
        part.items.append(
            Item(
                chances.sentence(row, lang, False),
                tag=t(lang, "quick win", "snel resultaat")
                if quick
                else t(lang, "long term", "lange termijn"),
                tag_kind="quick" if quick else "long",
            )
        )
    part.notes.append(
        t(
            lang,
            "Ranked by customers at stake (customers lost to each driver of churn, 95% "
            "interval); demonstrable drivers first. Associations adjusted for tenure and "
            "segment, not proven causes.",
            "Gerangschikt naar klanten op het spel (klanten verloren aan elke oorzaak van "
            "vertrek, 95%-interval); aantoonbare oorzaken eerst. Verbanden, gecorrigeerd voor "
            "klantduur en segment; geen bewezen oorzaken.",
        )
    )
    return part


def journey_canvas(data: ReportData, lang: str) -> Section:
    result = _need(data.outcomes["canvas"])
    if result.touchpoints.empty or not int(result.touchpoints["events"].sum() or 0):
        raise NotEnoughData
    notes_outcome = data.outcomes.get("canvas_notes")
    notes = notes_outcome.result if notes_outcome is not None and notes_outcome.ok else {}
    board = result.to_dict()
    section = Section("canvas", say(lang, "canvas_title"), result.summary(lang))
    section.notes.extend(text_of(why, lang) for why in result.failed.values())
    section.parts.append(
        Part("phases", columns=[_column(phase, notes, lang) for phase in board["phases"]])
    )
    curve = Part("emotion", t(lang, "Emotion curve", "Emotiecurve"))
    figure = emotion_curve(result, lang, div_id="cxray-emotion")
    if figure is None:
        curve.missing = t(
            lang,
            "No scored answers at any touchpoint yet.",
            "Nog geen antwoorden met een score bij een contactmoment.",
        )
    else:
        curve.figure = str(figure)
        curve.notes.append(
            t(
                lang,
                "Experience: every answer placed on 0–100 by its scale (0 the worst answer, 100 "
                "the best), averaged over all metrics at a touchpoint or in a phase, with a 95% "
                "interval. Faces by fifths: ☹️ below 20, 🙁 20–40, 😐 40–60, 🙂 60–80, 😀 80 "
                "and up. An average feeling, not an NPS.",
                "Beleving: elk antwoord op 0–100 gezet volgens zijn schaal (0 het slechtste "
                "antwoord, 100 het beste), gemiddeld over alle metrieken bij een contactmoment "
                "of in een fase, met een 95%-interval. Gezichten per vijfde: ☹️ onder 20, 🙁 "
                "20–40, 😐 40–60, 🙂 60–80, 😀 vanaf 80. Een gemiddeld gevoel, geen NPS.",
            )
        )
    section.parts.append(curve)
    section.parts.append(_pain_points(board, lang))
    themes = _unhappy_themes(board, lang)
    if themes is not None:
        section.parts.append(themes)
    section.parts.append(_opportunities(result, lang))
    return section
