"""The chat sidebar (聊天工具栏): the page staff open beside a customer chat in WeCom.

* `session.py`: who is looking. A signed cookie made after WeCom's OAuth2 login, and the
  CSRF token tied to it.
* `wecom_web.py`: what WeCom's web side needs from the server: the OAuth2 authorize URL and
  the JS-SDK config signatures (tickets cached).
* `routes.py`: the aiohttp routes (page, list fragment, JSON API, send record). Thin: every
  answer comes from `bot.replies.service`.
* `templates/`, `static/`: server-rendered Jinja (autoescaped) and one small plain script.
"""
