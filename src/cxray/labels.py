"""Built-in names as a reader sees them: the template phases and channels in Dutch.

The journey file keeps the English names (scripts and tools write them), so only what is shown
changes; a phase or channel a company named itself stays as it wrote it.
"""

from __future__ import annotations

UNASSIGNED = "unassigned"  # the phase of a touchpoint no phase claims yet

PHASE_NAMES_NL: dict[str, str] = {
    "awareness": "bewustwording",
    "consideration": "overweging",
    "conversion": "conversie",
    "loyalty": "loyaliteit",
    "advocacy": "ambassadeurschap",
    "action": "actie",
    "service": "service",
    "delight": "enthousiasme",
    "assess": "afwegen",
    "admit": "besluiten",
    "affirm": "bevestigen",
    "activate": "activeren",
    "acclimate": "wennen",
    "accomplish": "bereiken",
    "adopt": "omarmen",
    "advocate": "aanbevelen",
    UNASSIGNED: "zonder fase",
}


def phase_label(phase: str, lang: str = "en") -> str:
    """A phase as a reader sees it: a built-in template's phase in Dutch under ``nl``; a phase
    a company named itself stays as it wrote it."""
    if lang == "nl":
        return PHASE_NAMES_NL.get(phase, phase)
    return phase


CHANNELS_NL = {
    "email": "e-mail",
    "phone": "telefoon",
    "store": "winkel",
    "social": "sociale media",
    "logistics": "logistiek",
    "mail": "post",
    "other": "overig",
}


def channel_label(channel: str, lang: str = "en") -> str:
    """A built-in channel as a reader sees it (stored names unchanged)."""
    return CHANNELS_NL.get(channel, channel) if lang == "nl" else channel


__all__ = ["CHANNELS_NL", "PHASE_NAMES_NL", "UNASSIGNED", "channel_label", "phase_label"]
