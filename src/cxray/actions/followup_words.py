"""The effect of following up in words, English and Dutch (see followup_effect.py)."""

from __future__ import annotations

import math
from typing import Any

from cxray.analysis._common import fmt_interval, fmt_num


def _n(value: Any, lang: str) -> str:
    return fmt_num(float(value), lang)


def _pct(value: float, lang: str) -> str:
    return fmt_num(100 * value, lang) + "%"


def _span(low: float, high: float, lang: str, digits: int = 0) -> str:
    """An interval of a difference: "-6 to 4" (a dash would read as a minus)."""
    word = "tot" if lang == "nl" else "to"
    return f"{fmt_num(low, lang, digits)} {word} {fmt_num(high, lang, digits)}"


def _known(value: Any) -> bool:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


def sentences(effect: Any, lang: str) -> list[str]:
    """Design, churn, later scores and the share who answer better, each in one sentence."""
    nl = lang == "nl"
    if effect.design == "none":
        return [
            "Nog geen opvolgingen om te vergelijken." if nl else "No follow-ups to compare yet."
        ]
    out = [_design(effect, nl, lang)]
    out.append(_churn(effect, nl, lang))
    out.append(_better(effect, nl, lang))
    nps = _nps(effect, nl, lang)
    if nps:
        out.append(nps)
    return out


def _design(effect: Any, nl: bool, lang: str) -> str:
    treated, control = effect.group(effect.treated), effect.group(effect.control)
    n_t, n_c = _n(treated.get("detractors", 0), lang), _n(control.get("detractors", 0), lang)
    if effect.design == "randomised":
        reached = ""
        if _known(effect.reached_share):
            share = _pct(effect.reached_share, lang)
            reached = (
                f"; {share} van hen is ook echt bereikt"
                if nl
                else f"; {share} of them were actually reached"
            )
        if nl:
            return (
                f"Gerandomiseerd: {n_c} detractors zijn willekeurig achtergehouden en {n_t} "
                f"kregen een opvolging aangeboden{reached}. Het verschil is dus het effect van "
                "opvolgen aanbieden, zonder selectie."
            )
        return (
            f"Randomised: {n_c} detractors were held out at random and {n_t} were offered a "
            f"follow-up{reached}. The difference is therefore the effect of offering a "
            "follow-up, without selection."
        )
    if nl:
        return (
            f"Observationeel: er is geen willekeurige controlegroep, dus de {n_t} opgevolgde "
            f"detractors kunnen ook op andere punten verschillen van de {n_c} niet opgevolgde "
            "(wie eerst wordt opgevolgd, is misschien makkelijker). Gecorrigeerd voor score, "
            "klantduur en metriek, maar geen bewijs van effect; zet holdout_share in "
            "[followups] om het zuiver te meten."
        )
    return (
        f"Observational: there is no random hold-out, so the {n_t} detractors followed up may "
        f"differ in other ways from the {n_c} not followed up (the ones followed up first may "
        "be the easy ones). Adjusted for score, tenure and metric, but not proof of an effect; "
        "set holdout_share in [followups] to measure it without bias."
    )


def _churn(effect: Any, nl: bool, lang: str) -> str:
    hr = effect.hazard_ratio
    if not hr.known:
        if hr.reason == "not_estimable":
            return (
                "Het effect op vertrek kan uit deze gegevens niet worden geschat."
                if nl
                else "The effect on churn cannot be estimated from this data."
            )
        groups = [effect.group(g) for g in (effect.treated, effect.control)]
        unseen = sum(int(g.get("detractors", 0)) - int(g.get("customers", 0)) for g in groups)
        recent = ""
        if unseen > 0:
            k = _n(unseen, lang)
            recent = (
                f"; {k} antwoordden te kort geleden om hun vertrek al te kunnen zien"
                if nl
                else f"; {k} answered too recently for their churn to be seen yet"
            )
        return (
            "Te weinig klanten om vertrek te vergelijken (minstens 10 per groep en 5 "
            f"vertrokken nodig{recent})."
            if nl
            else "Too few customers to compare churn (at least 10 per group and 5 churned "
            f"are needed{recent})."
        )
    value, span = fmt_interval(hr.value, hr.lower, hr.upper, lang, digits=2)
    who = "opgevolgde" if nl else "followed-up"
    if effect.design == "randomised":
        who = "aan wie opvolging werd aangeboden" if nl else "offered a follow-up"
    if hr.upper < 1 or hr.lower > 1:
        if nl:
            return (
                f"Detractors {who} vertrokken {value} keer zo snel als de anderen "
                f"(hazardratio, 95%-interval {span})."
            )
        return (
            f"Detractors {who} churned at {value} times the rate of the others "
            f"(hazard ratio, 95% interval {span})."
        )
    if nl:
        return f"Geen aantoonbaar verschil in vertrek (hazardratio {value}, 95%-interval {span})."
    return f"No demonstrable difference in churn (hazard ratio {value}, 95% interval {span})."


def _better(effect: Any, nl: bool, lang: str) -> str:
    treated, control = effect.group(effect.treated), effect.group(effect.control)
    share = treated.get("better_share")
    if not _known(share):
        again = _n(treated.get("answered_again", 0), lang)
        return (
            f"Te weinig opgevolgde detractors antwoordden opnieuw ({again}; minstens 10 nodig) "
            "om te zeggen hoe vaak ze hun oordeel herzien."
            if nl
            else f"Too few followed-up detractors answered again ({again}; at least 10 are "
            "needed) to say how often they change their judgement."
        )
    value, span = fmt_interval(
        share, treated["better_lower"], treated["better_upper"], lang, percent=True
    )
    if nl:
        text = (
            f"{value} van de detractors die daarna opnieuw antwoordden, was geen detractor meer "
            f"(95%-interval {span})"
        )
    else:
        text = (
            f"{value} of the detractors who answered again were no longer detractors "
            f"(95% interval {span})"
        )
    other = control.get("better_share")
    diff = effect.better_difference
    if _known(other) and diff.known:
        o_value, o_span = fmt_interval(
            other, control["better_lower"], control["better_upper"], lang, percent=True
        )
        d_value = fmt_num(100 * diff.value, lang)
        d_span = _span(100 * diff.lower, 100 * diff.upper, lang)
        if nl:
            text += (
                f", tegen {o_value} ({o_span}) van de anderen: een verschil van {d_value} "
                f"procentpunt (95%-interval {d_span})"
            )
        else:
            text += (
                f", against {o_value} ({o_span}) of the others: a difference of {d_value} "
                f"percentage points (95% interval {d_span})"
            )
    return text + "."


def _nps(effect: Any, nl: bool, lang: str) -> str | None:
    diff = effect.nps_difference
    if not diff.known or diff.lower is None:
        return None
    treated, control = effect.group(effect.treated), effect.group(effect.control)
    a, b = fmt_num(treated["next_nps"], lang, 1), fmt_num(control["next_nps"], lang, 1)
    value, span = fmt_num(diff.value, lang, 1), _span(diff.lower, diff.upper, lang, 1)
    if nl:
        return (
            f"Hun volgende NPS-antwoord was gemiddeld {a} tegen {b} (verschil {value}, "
            f"95%-interval {span})."
        )
    return (
        f"Their next NPS answer averaged {a} against {b} (difference {value}, 95% interval {span})."
    )
