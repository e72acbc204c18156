"""What happens to an incident, for the parts of HISGuard that react to it (paging, ...).

Sent inside the transaction of the change, so a receiver's writes (an escalation, a
notification in the outbox) commit or roll back with it.
"""

from django.dispatch import Signal

# incident, old_class (None when just opened), new_class, now
incident_class_raised = Signal()
# incident, old_status, new_status, user, now
incident_status_changed = Signal()
# incident, user, message, now
incident_feedback = Signal()
# incident, new_status (resolved or closed), user — sent BEFORE the change; a receiver may
# refuse it by raising hisguard.core.errors.DomainError (e.g. back-entry still outstanding).
incident_closing = Signal()
