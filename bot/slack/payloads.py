"""Is a signed payload shaped as Slack documents it? Pure.

The signature says who sent a payload, not that its fields have the types the listeners read.
:func:`malformed` names the first field of a known payload type (``event_callback``,
``block_actions``, ``view_submission``, slash commands) whose type is wrong, so the door can
answer 400 instead of a listener failing on it.
"""

from __future__ import annotations

from typing import Any

_EVENT_STRINGS = ("type", "user", "text", "channel", "channel_type", "subtype", "ts", "thread_ts")
# What the listeners read from the events they take (a bot's message may have no user).
_EVENT_NEEDS = {"app_home_opened": ("user",), "app_mention": ("user", "channel", "ts")}
_MESSAGE_NEEDS = ("user", "channel", "ts")
_COMMAND_STRINGS = ("command", "text", "user_id", "channel_id", "response_url", "trigger_id")


def _strings(data: dict[str, Any], names: tuple[str, ...], where: str) -> str | None:
    for name in names:
        if name in data and data[name] is not None and not isinstance(data[name], str):
            return f"{where}.{name}"
    return None


def _user_id(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return "user.id"
    return None


def _event(body: dict[str, Any]) -> str | None:
    event = body.get("event")
    if not isinstance(event, dict):
        return "event"
    problem = _strings(event, _EVENT_STRINGS, "event")
    if problem is not None:
        return problem
    kind = event.get("type")
    needs = _EVENT_NEEDS.get(str(kind), ())
    if (
        kind == "message"
        and not event.get("bot_id")
        and event.get("subtype") in (None, "file_share")
    ):
        needs = _MESSAGE_NEEDS
    for name in needs:
        if not isinstance(event.get(name), str):
            return f"event.{name}"
    files = event.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        return "event.files"
    return None


def _actions(body: dict[str, Any]) -> str | None:
    actions = body.get("actions")
    if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
        return "actions"
    for action in actions:
        problem = _strings(action, ("action_id", "block_id", "value"), "actions[]")
        if problem is not None:
            return problem
    for name in ("channel", "message", "container"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            return name
    return _user_id(body)


def _view(body: dict[str, Any]) -> str | None:
    view = body.get("view")
    if not isinstance(view, dict):
        return "view"
    state = view.get("state", {})
    values = state.get("values", {}) if isinstance(state, dict) else None
    if not isinstance(values, dict):
        return "view.state.values"
    for block in values.values():
        if not isinstance(block, dict) or not all(isinstance(e, dict) for e in block.values()):
            return "view.state.values"
    return _user_id(body)


def malformed(body: dict[str, Any]) -> str | None:
    """The path of the first ill-typed field of a known payload, or None when it reads well."""
    kind = body.get("type")
    if kind == "event_callback":
        return _event(body)
    if kind == "block_actions":
        return _actions(body)
    if kind in ("view_submission", "view_closed"):
        return _view(body)
    if "command" in body:
        return _strings(body, _COMMAND_STRINGS, "command")
    return None
