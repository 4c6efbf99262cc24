"""入群欢迎语: the group welcome templates operators write in `sop/codes.yaml` + Jinja.

WeCom keeps at most 100 templates for the whole corp and no API attaches one to a group
(the owner picks it in the client; `notify` asks WeCom to remind them), so a template is
written per group class (a list of stores, or every other store), rendered once, and
pushed with group_welcome_template/add or /edit by `codes sync`. ``%NICKNAME%`` is WeCom's
own placeholder: the client puts the newcomer's name there, so ``@{{ newcomer }}`` is the
@-mention of the seeds' group rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.books.positions import Loc
from bot.books.stores import Store, StoreDirectory
from bot.books.templating import TemplateError, TemplateLibrary
from bot.codes.model import DesiredCode
from bot.codes.spec import GroupWelcomeSpec
from bot.wecom.contact_ways import MAX_GROUP_WELCOME_TEMPLATES, MAX_GROUP_WELCOME_TEXT_BYTES
from bot.wecom.content import ContentError, payload

NICKNAME = "%NICKNAME%"  # WeCom replaces it with the newcomer's name
NAME_CARD = "城市+社区+名字"
MAX_NAME_CHARS = 40
AddProblem = Callable[..., None]  # Findings.add(loc, reason, at_key=False)


def group_welcome_codes(entries: Mapping[str, GroupWelcomeSpec], add: AddProblem,
                        stores: StoreDirectory, templates: TemplateLibrary
                        ) -> list[DesiredCode]:
    """One template per entry, rendered for its stores; problems through `add`."""
    if len(entries) > MAX_GROUP_WELCOME_TEMPLATES:
        add(("group_welcome",), f"group_welcome: {len(entries)} templates, WeCom keeps at "
                                f"most {MAX_GROUP_WELCOME_TEMPLATES} for the whole corp: "
                                "write them per group class, not per store", at_key=True)
        return []
    members = _stores_of(entries, add, stores)
    codes = []
    for name, entry in entries.items():
        if len(name) > MAX_NAME_CHARS:  # managers read it in a notice; it keys the record
            add(("group_welcome", name), f"group_welcome.{name}: a name of at most "
                                         f"{MAX_NAME_CHARS} characters", at_key=True)
            continue
        its = members.get(name)
        if not its:
            continue
        body = _body(name, entry, its, add, templates)
        if body is None:
            continue
        one = its[0] if len(its) == 1 else None
        codes.append(DesiredCode(
            f"group_welcome:{name}", "group_welcome", "", name,
            one.id if one else None, one.name if one else "", body,
            notify=tuple(dict.fromkeys(s.manager_userid for s in its))))
    return codes


def welcome_context(entry: GroupWelcomeSpec, stores: list[Store]) -> dict[str, Any]:
    """What a group welcome template sees."""
    return {
        "newcomer": NICKNAME,
        "flash_sale_at": entry.flash_sale_at or "",
        "perk": entry.perk.model_dump() if entry.perk is not None else None,
        "name_card": NAME_CARD,
        "store": stores[0] if len(stores) == 1 else None,
    }


def notice_text(code: DesiredCode) -> str:
    """The app message that asks a manager to attach a new or changed template."""
    text = str(code.body.get("text", {}).get("content", ""))
    preview = text if len(text) <= 60 else text[:60] + "…"
    # the version makes each change's notice distinct: WeCom's duplicate check drops only
    # a repeat of the same change (a rerun after a crash)
    return (f"入群欢迎语「{code.channel}」已更新（版本 {code.spec_hash[:6]}），请在企业微信：客户群"
            f" → 群设置 → 入群欢迎语 中选用它（每个福利群都要选）。\n内容预览：{preview}")


def _stores_of(entries: Mapping[str, GroupWelcomeSpec], add: AddProblem,
               stores: StoreDirectory) -> dict[str, list[Store]]:
    """Each entry's stores: listed ones, then "all" takes every store nobody listed."""
    owner: dict[str, str] = {}
    found: dict[str, list[Store]] = {}
    catch_all = [n for n, e in entries.items() if e.stores == "all"]
    for extra in catch_all[1:]:
        add(("group_welcome", extra, "stores"), f"group_welcome.{extra}.stores: only one "
            f"entry may take all stores ('{catch_all[0]}' already does)")
    for name, entry in entries.items():
        if entry.stores == "all":
            continue
        found[name] = []
        for index, store_id in enumerate(entry.stores):
            loc: Loc = ("group_welcome", name, "stores", index)
            store = stores.get(store_id)
            if store is None:
                add(loc, f"group_welcome.{name}.stores: store '{store_id}' is not in "
                         "stores.yaml")
            elif owner.setdefault(store_id, name) != name:
                add(loc, f"group_welcome.{name}.stores: store '{store_id}' already has the "
                         f"welcome '{owner[store_id]}'")
            else:
                found[name].append(store)
    if catch_all:
        found[catch_all[0]] = [s for s in stores.all() if s.id not in owner]
    return found


def _body(name: str, entry: GroupWelcomeSpec, stores: list[Store], add: AddProblem,
          templates: TemplateLibrary) -> dict[str, Any] | None:
    where: Loc = ("group_welcome", name)
    context = welcome_context(entry, stores)
    problems = templates.check(entry.template, context)
    for problem in problems:
        add((*where, "template"), f"group_welcome.{name}: {problem}")
    if problems:
        return None
    try:
        text = templates.render(entry.template, context).strip()
    except TemplateError as exc:
        add((*where, "template"), f"group_welcome.{name}: {exc}")
        return None
    size = len(text.encode())
    if size > MAX_GROUP_WELCOME_TEXT_BYTES:
        add((*where, "template"), f"group_welcome.{name}: the text is {size} bytes, WeCom "
                                  f"allows {MAX_GROUP_WELCOME_TEXT_BYTES} (a Chinese "
                                  "character takes 3 bytes)")
        return None
    body: dict[str, Any] = {"text": {"content": text}, "notify": 1 if entry.notify else 0}
    for kind in ("image", "link"):  # WeCom honours one attachment: image before link
        spec = getattr(entry, kind)
        if spec is None:
            continue
        fields = {k: v for k, v in spec.model_dump().items() if v}
        try:
            body[kind] = payload(kind, fields)[kind]
        except ContentError as exc:
            add((*where, kind, exc.key), f"group_welcome.{name}.{kind}: {exc.reason}")
            return None
        break
    return body
