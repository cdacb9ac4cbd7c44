"""The invitation and reminder mails, in the customer's language (English or Dutch).

The mail is what is sent, not a page of the app: its plain text has the personal link and the
opt-out link; its HTML also has the scale's scores as links, each opening the answer page with
that score chosen (nothing is stored until the customer submits there, so a link scanner that
follows them records nothing). Every value in the HTML is escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import urllib.parse

from cxray.actions.outbox import Mail
from cxray.i18n import Message
from cxray.surveys.config import Survey

_EN_MONTHS = "January February March April May June July August September October November December"
_NL_MONTHS = (
    "januari februari maart april mei juni juli augustus september oktober november december"
)
MONTHS = {"en": _EN_MONTHS.split(" "), "nl": _NL_MONTHS.split(" ")}


def answer_link(base: str, token: str, score: int | None = None) -> str:
    link = f"{base}/s/{urllib.parse.quote(token, safe='.')}"
    return link if score is None else f"{link}?score={score}"


def opt_out_link(base: str, token: str) -> str:
    return f"{base}/s/{urllib.parse.quote(token, safe='.')}/opt-out"


def _date(moment: dt.datetime, lang: str) -> str:
    return f"{moment.day} {MONTHS[lang][moment.month - 1]} {moment.year}"


def _t(lang: str, en: str, nl: str) -> str:
    return nl if lang == "nl" else en


def subject(survey: Survey, company: str, lang: str, reminder: bool) -> str:
    text = Message(f"{company}: how did we do?", f"{company}: hoe deden we het?").text(lang)
    if reminder:
        text = _t(lang, "Reminder: ", "Herinnering: ") + text
    return " ".join(text.split())[:200]


def survey_mail(
    *,
    survey: Survey,
    recipient: str,
    token: str,
    base: str,
    lang: str,
    company: str,
    expires_at: dt.datetime,
    invitation_id: str,
    reminder: bool = False,
) -> Mail:
    """The mail for one invitation (``reminder``: the one reminder), ready for the outbox."""
    lang = lang if lang in ("en", "nl") else "en"
    link, opt_out = answer_link(base, token), opt_out_link(base, token)
    question = survey.question.text(lang)
    until = _date(expires_at, lang)
    if reminder:
        opening = _t(
            lang,
            "A short reminder: we would still like to hear from you.",
            "Een korte herinnering: we horen nog graag van je.",
        )
    else:
        opening = _t(lang, "We would like to hear how it went.", "We horen graag hoe het ging.")
    text = "\n".join(
        [
            _t(lang, "Hello,", "Hallo,"),
            "",
            opening,
            question,
            "",
            _t(lang, "Answer here (it takes a minute):", "Antwoord hier (het kost een minuut):"),
            link,
            "",
            _t(
                lang,
                f"This link is personal and works until {until}.",
                f"Deze link is persoonlijk en werkt tot {until}.",
            ),
            "",
            _t(lang, f"Thank you, {company}", f"Bedankt, {company}"),
            "",
            _t(
                lang,
                f"No more surveys from {company}? {opt_out}",
                f"Geen enquêtes meer van {company}? {opt_out}",
            ),
            "",
        ]
    )
    low, high = survey.ends
    e = html.escape
    buttons = "".join(
        f'<a href="{e(answer_link(base, token, score))}" style="display:inline-block;'
        "min-width:2.2em;padding:.55em .3em;margin:2px;border:1px solid #2b5fab;"
        "border-radius:4px;color:#2b5fab;text-decoration:none;text-align:center;"
        f'font:bold 16px sans-serif">{score}</a>'
        for score in survey.scores
    )
    body = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{e(company)}</title></head>
<body style="font:16px/1.5 sans-serif;color:#1d2430;max-width:40em;margin:0 auto;padding:1em">
<p>{e(_t(lang, "Hello,", "Hallo,"))}</p>
<p>{e(opening)}</p>
<p><strong>{e(question)}</strong></p>
<p>{buttons}</p>
<p style="font-size:14px;color:#555">{survey.scale[0]} = {e(low.text(lang))},
{survey.scale[1]} = {e(high.text(lang))}</p>
<p><a href="{e(link)}">{e(_t(lang, "Open the survey", "Open de enquête"))}</a>
&middot; {e(_t(lang, f"works until {until}", f"werkt tot {until}"))}</p>
<p>{e(_t(lang, f"Thank you, {company}", f"Bedankt, {company}"))}</p>
<p style="font-size:13px;color:#555">{e(_t(lang, "No more surveys?", "Geen enquêtes meer?"))}
<a href="{e(opt_out)}">{e(_t(lang, "Opt out", "Afmelden"))}</a></p>
</body></html>
"""
    return Mail(
        recipient=recipient,
        subject=subject(survey, company, lang, reminder),
        text=text,
        html=body,
        kind="survey-reminder" if reminder else "survey-invitation",
        ref=invitation_id,
        headers={
            "List-Unsubscribe": f"<{opt_out}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


__all__ = ["answer_link", "opt_out_link", "subject", "survey_mail"]
