"""Surveys at each touchpoint: definitions in ``cxray.toml``, invitations with personal links,
planning with fatigue and opt-out rules, and the answers that land in ``feedback``.

Mails are only queued here (:mod:`cxray.actions.outbox`); a sender delivers them.
"""

from __future__ import annotations

from cxray.surveys.answers import Refused, check_answer, open_invitation, opt_out, record_answer
from cxray.surveys.config import Survey, SurveyConfigError, SurveySettings, read_surveys
from cxray.surveys.invitations import (
    create_invitations,
    create_reminders,
    open_links,
    survey_counts,
)
from cxray.surveys.planning import REASONS, Plan, plan_invitations
from cxray.surveys.tokens import workspace_key

__all__ = [
    "REASONS",
    "Plan",
    "Refused",
    "Survey",
    "SurveyConfigError",
    "SurveySettings",
    "check_answer",
    "create_invitations",
    "create_reminders",
    "open_invitation",
    "open_links",
    "opt_out",
    "plan_invitations",
    "read_surveys",
    "record_answer",
    "survey_counts",
    "workspace_key",
]
