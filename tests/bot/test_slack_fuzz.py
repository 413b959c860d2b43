"""Fuzzing Slack payloads (hypothesis, bounded), signed correctly, against the real application
and the fake Slack: events, slash commands and interactivity (buttons, the issue modal) answer
200 or a defined 4xx, never a 500, and no listener or background task dies of an uncaught
exception (each would be logged with its traceback)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dialog import Act
from tests.bot.conftest import CHINESE, HOLDER, OTHER, RA_CHANNEL, STAFF, SlackHarness
from tests.fuzz.mutations import budget
from tests.support.fake_slack import APP, TEAM, event_callback

FUZZ = settings(
    max_examples=budget(120),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

# Slack sends only its workspace's users; anything else in a user field is a wrong type.
users = st.sampled_from([STAFF, HOLDER, OTHER, CHINESE])
texts = st.sampled_from(
    [
        "issue @U2 cn=Test",
        "issue <@U2|holder> cn=\u201cA B\u201d ou=x o=y email=ü@example.com",
        "unlock 1234567890",
        "revoke abc",
        "help",
        "download",
        "renew",
        "<!channel> <!subteam^S1|@ra> &lt;&amp;",
        "how do I find the CN of my certificate",
    ]
) | st.text(max_size=200)
scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=30)
anything = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children)
    ),
    max_leaves=8,
)
action_ids = st.sampled_from([act.value for act in Act]).flatmap(
    lambda a: st.sampled_from([a, f"{a}#1", f"{a}#x"])
) | st.text(max_size=20)


wrong_types = st.none() | st.booleans() | st.integers() | st.lists(scalars, max_size=2)


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The field's value, or one of the wrong type."""
    return value | wrong_types


events = st.fixed_dictionaries(
    {"type": maybe(st.sampled_from(["message", "app_home_opened", "app_mention"]))},
    optional={
        "user": maybe(users),
        "text": maybe(texts),
        "channel": maybe(st.sampled_from([f"D{HOLDER}", RA_CHANNEL, "C0GENERAL"])),
        "channel_type": maybe(st.sampled_from(["im", "channel"])),
        "subtype": maybe(st.sampled_from(["file_share", "bot_message", "message_changed"])),
        "ts": maybe(st.just("1700000000.000100")),
        "thread_ts": maybe(st.just("1700000000.000001")),
        "tab": maybe(st.sampled_from(["home", "messages"])),
        "files": maybe(st.lists(st.fixed_dictionaries({"id": maybe(st.text(max_size=8))}))),
        "bot_id": st.text(max_size=5),
    },
)


def command_form(command: str, text: str, user: Any, respond: str) -> str:
    return urlencode(
        {
            "team_id": TEAM,
            "channel_id": "C0GENERAL",
            "user_id": user,
            "command": command,
            "text": text,
            "api_app_id": APP,
            "response_url": respond,
            "trigger_id": "TRIG1",
        }
    )


def block_actions(action_id: str, value: Any, user: Any, respond: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": APP,
        "trigger_id": "TRIG1",
        "response_url": respond,
        "container": {"type": "message", "message_ts": "1700000000.000001"},
        "channel": {"id": f"D{HOLDER}"},
        "message": {"ts": "1700000000.000001", "text": ""},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "certdesk:en:0",
                "value": value,
                "action_ts": "1700000000.1",
            }
        ],
    }


def view_submission(values: Any, user: Any) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": APP,
        "trigger_id": "TRIG1",
        "view": {
            "type": "modal",
            "callback_id": "ra_issue",
            "id": "V1",
            "state": {"values": values},
        },
    }


@st.composite
def requests(draw: st.DrawFn, fake_url: str) -> tuple[str, str]:
    """A body and its content type, as Slack would sign and send it."""
    kind = draw(st.sampled_from(["event", "command", "action", "view", "raw"]))
    respond = f"{fake_url}/respond/R{draw(st.integers(0, 99))}"
    if kind == "event":
        event_id = f"Ev{draw(st.integers(0, 10**9))}{time.monotonic_ns()}"
        body = event_callback(draw(events), event_id=event_id)
        return json.dumps(body), "application/json"
    if kind == "command":
        command = draw(st.sampled_from(["/cert", "/ra"]) | st.text(max_size=10))
        form = command_form(command, draw(texts), draw(users), respond)
        return form, "application/x-www-form-urlencoded"
    if kind == "action":
        payload = block_actions(draw(action_ids), draw(maybe(texts)), draw(maybe(users)), respond)
    elif kind == "view":
        values = draw(
            st.dictionaries(
                st.sampled_from(["holder", "cn", "ou", "o", "email", "profile"]) | st.text(),
                st.dictionaries(st.text(max_size=10), anything, max_size=2),
                max_size=6,
            )
            | anything
        )
        payload = view_submission(values, draw(maybe(users)))
    else:
        raw = draw(st.text(max_size=200))
        return raw, draw(st.sampled_from(["application/json", "application/x-www-form-urlencoded"]))
    return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"


@pytest.fixture
def tracebacks(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.ERROR)
    return caplog


@FUZZ
@given(data=st.data())
async def test_fuzzed_signed_payloads_get_a_defined_answer(
    slack: SlackHarness, tracebacks: pytest.LogCaptureFixture, data: st.DataObject
) -> None:
    tracebacks.clear()
    body, content_type = data.draw(requests(slack.fake.url), label="request")
    status, text = await slack.send.post(body, content_type=content_type)
    assert status < 500, (body[:300], text[:300])
    if status >= 400:
        assert "error" in json.loads(text)
    await slack.idle()
    crashed = [r for r in tracebacks.records if r.exc_info is not None]
    assert not crashed, [(r.getMessage(), r.exc_info and repr(r.exc_info[1])) for r in crashed]
