"""manifest.yml matches what the bot does: commands, events, scopes and the request URL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
# The bot scope each Web API method needs (methods with no entry need none).
SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "conversations_open": "im:write",
    "users_info": "users:read",
    "usergroups_users_list": "usergroups:read",
    "files_info": "files:read",
    "views_publish": None,
    "views_open": None,
}


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text())
    return data


def sources() -> str:
    return "\n".join(p.read_text() for p in (ROOT / "bot" / "slack").rglob("*.py"))


def test_manifest_every_url_is_the_events_endpoint() -> None:
    data = manifest()
    urls = [c["url"] for c in data["features"]["slash_commands"]]
    urls += [
        data["settings"]["event_subscriptions"]["request_url"],
        data["settings"]["interactivity"]["request_url"],
    ]
    assert all(url.endswith("/slack/events") for url in urls)
    assert data["settings"]["interactivity"]["is_enabled"] is True


def test_manifest_commands_are_the_registered_ones() -> None:
    registered = set(re.findall(r'@app\.command\("(/\w+)"\)', sources()))
    declared = {c["command"] for c in manifest()["features"]["slash_commands"]}
    assert registered == declared == {"/cert", "/ra"}
    ra = next(c for c in manifest()["features"]["slash_commands"] if c["command"] == "/ra")
    assert ra["should_escape"] is True  # mentions arrive as <@U…|name>


def test_manifest_subscribes_to_the_events_listened_to() -> None:
    events = set(manifest()["settings"]["event_subscriptions"]["bot_events"])
    listened = set(re.findall(r'@app\.event\("(\w+)"\)', sources())) - {"message"}
    assert listened <= events
    assert {"message.im", "message.channels"} <= events


def test_manifest_grants_the_scopes_of_every_web_api_call() -> None:
    called = set(re.findall(r"\bclient\.(\w+)\(", sources())) - {"connect", "close"}
    unknown = called - set(SCOPES)
    assert unknown == set(), f"add the scope of {unknown} to SCOPES and manifest.yml"
    needed = {SCOPES[m] for m in called} - {None}
    granted = set(manifest()["oauth_config"]["scopes"]["bot"])
    assert needed <= granted
    assert {"commands", "im:history", "app_mentions:read"} <= granted
