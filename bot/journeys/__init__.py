"""Customer journeys: messages counted in days from each customer's own events (issue 15).

A journey is operator YAML (``sop/journeys/*.yaml``): who enters on which event, what each
step says on day N after entry at HH:MM, and what makes a customer leave. The bot keeps each
customer's place (`tables`), plans each day's steps on the elected replica (`planner`),
hands them to the outbox at each step's time (`dispatch`) and shares each customer's daily
群发 allowance with the member-targeted SOPs. docs/journeys.md is the operator's page.
"""

from bot.journeys.events import MEMBER_EVENTS, record_member_event

__all__ = ["MEMBER_EVENTS", "record_member_event"]
