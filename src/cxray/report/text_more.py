"""The titles and shared lines of the report's later sections (canvas, why, trend, risk), in
English and Dutch; :mod:`cxray.report.text` adds them to its strings. Sentences the analyses
write come from the analyses; the rest of each section's words sit beside its code."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "trend_title": "Scores over time",
        "canvas_title": "Journey canvas",
        "why_title": "Why customers leave",
        "risk_title": "Who is about to leave",
        "no_scores": "There are no scored answers yet.",
        "cannot_compute": "Cannot be computed on this data: {reason}.",
        "no_active": "No active customers to score.",
    },
    "nl": {
        "trend_title": "Scores door de tijd",
        "canvas_title": "Klantreiscanvas",
        "why_title": "Waarom klanten vertrekken",
        "risk_title": "Wie staat op het punt te vertrekken",
        "no_scores": "Er zijn nog geen antwoorden met een score.",
        "cannot_compute": "Niet te berekenen op deze gegevens: {reason}.",
        "no_active": "Geen actieve klanten om te beoordelen.",
    },
}
