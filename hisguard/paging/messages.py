"""The words of each message, in the recipient's language: short, with what to do."""

from __future__ import annotations

from django.utils import timezone, translation
from django.utils.translation import gettext as _

ROMAN = {1: "I", 2: "II", 3: "III"}


def _drill_mark(incident) -> str:
    return _("【DRILL】") if incident.is_drill else ""


def _what_to_do(incident) -> str:
    if incident.hospital_class == 1:
        return _(
            "Class I: report to hospital leadership at once; the command group coordinates all departments."
        )
    if incident.hospital_class == 2:
        return _("Class II: the IT head takes charge; IT handles it centrally.")
    return _("Class III: the network administrator on duty handles it and logs the maintenance.")


def _facts(incident) -> str:
    systems = ", ".join(s.code for s in incident.systems.all()[:5]) or "—"
    areas = ", ".join(str(a) for a in incident.areas.all()[:5]) or "—"
    return _("Systems: %(systems)s. Areas: %(areas)s.") % {"systems": systems, "areas": areas}


def escalation_message(incident, language: str) -> tuple[str, str]:
    with translation.override(language):
        subject = _("%(drill)s[Class %(class)s] %(number)s %(title)s") % {
            "drill": _drill_mark(incident),
            "class": ROMAN[incident.hospital_class],
            "number": incident.number,
            "title": incident.title,
        }
        opened = timezone.localtime(incident.opened_at).strftime("%m-%d %H:%M")
        body = " ".join(
            [
                _("Since %(time)s.") % {"time": opened},
                _facts(incident),
                _what_to_do(incident),
                _("Acknowledge with the link below."),
            ]
        )
        return subject, body


def broadcast_message(incident, text: str, language: str) -> tuple[str, str]:
    with translation.override(language):
        subject = _("%(drill)s[All-hospital notice] %(title)s") % {
            "drill": _drill_mark(incident),
            "title": incident.title,
        }
        return subject, f"{text} {_facts(incident)}"


def update_message(incident, text: str, language: str) -> tuple[str, str]:
    with translation.override(language):
        subject = _("%(drill)s[IT update] %(number)s") % {
            "drill": _drill_mark(incident),
            "number": incident.number,
        }
        return subject, f"{text} ({incident.get_status_display()})"


def digest_message(items: list, language: str) -> tuple[str, str]:
    with translation.override(language):
        subject = _("[HISGuard] %(count)s messages") % {"count": len(items)}
        return subject, "\n".join(f"- {item.subject}" for item in items)
