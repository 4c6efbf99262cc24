"""Canned replies (话术) for customer service, chosen by the customer's tags (issue 4).

Where things are:

* `library.py`: the operators' YAML files under ``templates/replies/``, checked with
  ``file:line:col`` errors and compiled once (a `bot.books.live.LiveBook` reloads them
  on edit); `spec.py` is their schema.
* `ranking.py`: which replies fit a customer best (pure functions, no I/O).
* `store.py`: the SQL: customer cards, tag frequencies, send counts, recording a send.
* `service.py`: the three together, for both front ends: the chat sidebar (`bot.sidebar`)
  and the staff commands sent to the bot app (`commands.py`, `bot.handlers.app_messages`).
"""
