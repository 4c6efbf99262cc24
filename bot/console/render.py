"""HTML and CSV out of a page's tables. The chart data travels as JSON in the page (read by
console.js, no inline script: the CSP forbids it), built from the same rows as the table."""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.console.access import Viewer
from bot.console.pages import Table

NAV = (("today", "今日发送"), ("channels", "渠道"), ("groups", "群健康"), ("members", "会员"),
       ("journeys", "旅程"))
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer",
           "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
           "style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
           "form-action 'self'"}


class Renderer:
    def __init__(self, here: Path) -> None:
        self._jinja = Environment(loader=FileSystemLoader(here / "templates"),
                                  autoescape=select_autoescape(default=True),
                                  trim_blocks=True, lstrip_blocks=True, auto_reload=False)

    def page(self, request: web.Request, viewer: Viewer, page: str, found: dict[str, Any],
             csrf: str) -> web.Response:
        def static(name: str) -> str:
            return str(request.app.router["console_static"].url_for(filename=name))

        def csv_url(key: str) -> str:
            query = {k: v for k, v in request.query.items() if k not in ("format", "table")}
            return f"{request.path}?{urlencode({**query, 'format': 'csv', 'table': key})}"

        day = {"day": request.query["day"]} if request.query.get("day") else {}

        def store_link(row: dict[str, Any]) -> str:
            return f"/console/today?{urlencode({'store': row['store_id'], **day})}"

        def group_link(row: dict[str, Any]) -> str:
            return f"/console/group?{urlencode({'chat': row['chat_id'], **day})}"

        def step_link(row: dict[str, Any]) -> str:
            keep = {k: v for k, v in request.query.items() if k in ("store", "start", "end")}
            keep |= {"journey": row["journey"], "step": row["step"]}
            return f"/console/journeys?{urlencode(keep)}"

        charts = [{"key": t.key, "chart": t.chart, "columns": t.columns, "rows": t.rows}
                  for t in found["tables"] if t.chart]
        html = self._jinja.get_template(f"{page}.html").render(
            viewer=viewer, nav=NAV, page=page, static=static, csv_url=csv_url,
            csrf=csrf, back=request.path_qs, store_link=store_link, group_link=group_link,
            step_link=step_link,
            charts=json.dumps(charts, ensure_ascii=False, default=str), **found)
        return web.Response(text=html, content_type="text/html", headers=HEADERS)


def csv_response(table: Table, filename: str) -> web.Response:
    """The table as CSV, headed in Chinese, with a BOM so Excel opens it as UTF-8."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([title for _, title in table.columns])
    for row in table.rows:
        writer.writerow([_cell(row.get(key)) for key, _ in table.columns])
    return web.Response(text=out.getvalue(), content_type="text/csv", charset="utf-8",
                        headers={**HEADERS,
                                 "Content-Disposition": f'attachment; filename="{filename}"'})


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # a cell starting with = + - @ would run as a formula in Excel: keep it text
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def page_error(status: int, message: str) -> web.Response:
    return web.Response(status=status, content_type="text/html", headers=HEADERS,
                        text=f'<!doctype html><meta charset="utf-8"><title>控制台</title>'
                             f'<p class="error">{html.escape(message)}</p>')
