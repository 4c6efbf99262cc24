"""「今日跟进」: a customer's journey follow-ups (``via: staff_task``) in the chat sidebar.

Opened on a customer's chat, the sidebar lists the staff member's due tasks for that
customer (the step's text as rendered for them, and its cards), above the replies. The page
sends one with ``sendChatMessage`` (as for replies and group posts), then records it here:
``mark_sent`` moves it due → sent once, so a second click or a replayed request records
nothing more. Only the staff member the task is for sees or sends it (`bot.journeys.tasks`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.db.engine import Database
from bot.journeys import tasks
from bot.journeys.tasks import Task
from bot.sidebar.group_posts import chat_cards


def task_json(task: Task) -> dict[str, Any]:
    cards, pictures, others = chat_cards(task.attachments)
    return {"id": task.id, "journey": task.journey, "step": task.step, "day": task.day,
            "title": task.title, "text": task.text, "cards": cards, "pictures": pictures,
            "others": others, "status": task.status, "sent_at": task.sent_at}


class SidebarTasks:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    async def for_customer(self, userid: str, customer: str) -> list[dict[str, Any]]:
        now = self.clock()
        found = await self.db.read(lambda c: tasks.due_for(c, userid, customer, now))
        return [task_json(t) for t in found]

    async def mark_sent(self, userid: str, customer: str, task_id: int
                        ) -> tuple[dict[str, Any] | None, bool]:
        """(the task, recorded now); None when it is not this staff member's task for this
        customer."""
        at = self.clock()
        task, recorded = await self.db.write(
            lambda c: tasks.mark_sent(c, task_id, userid, customer, at))
        return (None if task is None else task_json(task)), recorded
