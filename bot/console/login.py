"""Where the console sends a browser to sign in with WeCom.

Inside the WeCom client (its User-Agent says ``wxwork``) the silent OAuth2 login the
sidebar uses; in a desktop browser WeCom's web login (企业微信Web登录,
``login.work.weixin.qq.com/wwlogin/sso/login``, the member scans or confirms in their
client). Both come back to our ``redirect_uri`` with ``code`` and ``state``, and both codes
are traded for the member by the same ``auth/getuserinfo`` (single use, 5 minutes). With the
simulator as the API (a loopback address) the simulator's own pages stand in for both.
"""

from __future__ import annotations

from urllib.parse import quote

from bot.sidebar import wecom_web

REAL_WEB_LOGIN = "https://login.work.weixin.qq.com/wwlogin/sso/login"


def in_wecom_client(user_agent: str) -> bool:
    return "wxwork" in user_agent.lower()


def web_login_url(api_base_url: str, corp_id: str, agent_id: int | None, redirect_uri: str,
                  state: str) -> str:
    """The desktop web login (login_type CorpApp: a member of this corp, for this app)."""
    if wecom_web.is_simulated(api_base_url):
        base = wecom_web.authorize_base(api_base_url).replace("/connect/oauth2/authorize",
                                                             "/wwlogin/sso/login")
    else:
        base = REAL_WEB_LOGIN
    query = (f"login_type=CorpApp&appid={quote(corp_id, safe='')}"
             f"&redirect_uri={quote(redirect_uri, safe='')}&state={state}")
    if agent_id is not None:
        query += f"&agentid={agent_id}"
    return f"{base}?{query}"


def login_url(user_agent: str, api_base_url: str, corp_id: str, agent_id: int | None,
              redirect_uri: str, state: str) -> str:
    if in_wecom_client(user_agent):
        return wecom_web.authorize_url(api_base_url, corp_id, agent_id, redirect_uri, state)
    return web_login_url(api_base_url, corp_id, agent_id, redirect_uri, state)
