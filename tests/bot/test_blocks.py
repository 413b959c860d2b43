"""Block Kit rendering stays within Slack's limits and carries the reply's language."""

from __future__ import annotations

from bot.dialog import Act, Button, Reply
from bot.slack import blocks
from bot.slack.syntax import IssueArgs
from enrollment.ca.profiles import DEFAULT_PROFILE
from tests.bot.conftest import NOW, certificate, enrollment


def test_section_splits_long_text_at_lines_within_the_limit() -> None:
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(100))
    sections = blocks.section(text)
    assert len(sections) > 1
    assert all(len(s["text"]["text"]) <= blocks.SECTION_LIMIT for s in sections)
    assert "\n".join(s["text"]["text"] for s in sections) == text


def test_section_splits_a_single_huge_line() -> None:
    sections = blocks.section("y" * 7000)
    assert [len(s["text"]["text"]) for s in sections] == [3000, 3000, 1000]


def test_section_of_empty_text_is_valid() -> None:
    assert blocks.section("") == [{"type": "section", "text": {"type": "mrkdwn", "text": " "}}]


def test_reply_blocks_number_buttons_and_tag_language() -> None:
    reply = Reply("hi", tuple(Button(Act.RENEW_CERTIFICATE, f"c{i}", str(i)) for i in range(7)))
    rendered = blocks.reply_blocks(reply, "zh")
    action_blocks = [b for b in rendered if b["type"] == "actions"]
    assert [len(b["elements"]) for b in action_blocks] == [5, 2]
    ids = [e["action_id"] for b in action_blocks for e in b["elements"]]
    assert len(set(ids)) == 7
    assert all(blocks.action_pattern(Act.RENEW_CERTIFICATE).match(i) for i in ids)
    assert not blocks.action_pattern(Act.RENEW).match(ids[0])
    assert blocks.block_language(action_blocks[1]["block_id"]) == "zh"
    assert blocks.block_language("someone-else") is None


def test_button_text_and_empty_value_fit_slack() -> None:
    element = blocks.button(Button(Act.DOWNLOAD, "d" * 200), 0)
    assert len(element["text"]["text"]) == blocks.BUTTON_TEXT_LIMIT
    assert element["value"] == "-"
    assert blocks.button_value(element["value"]) == ""


def test_home_view_stays_under_one_hundred_blocks() -> None:
    many = [certificate(f"{i:x}") for i in range(200)]
    view = blocks.home_view(
        certificates=many, pending=[enrollment()] * 50, staff=None, now=NOW, lang="en"
    )
    assert view["type"] == "home"
    assert len(view["blocks"]) <= 100


def test_issue_modal_values_read_every_field() -> None:
    modal = blocks.issue_modal("en")
    assert [b["block_id"] for b in modal["blocks"]] == [
        "holder",
        "cn",
        "ous",
        "o",
        "email",
        "profile",
    ]
    values = blocks.issue_modal_values(
        {
            "state": {
                "values": {
                    "holder": {"value": {"type": "users_select", "selected_user": "U2"}},
                    "cn": {"value": {"type": "plain_text_input", "value": "A"}},
                    "ous": {"value": {"type": "plain_text_input", "value": " X \n\n Y "}},
                    "o": {"value": {"type": "plain_text_input", "value": ""}},
                    "profile": {
                        "value": {"type": "static_select", "selected_option": {"value": "smime"}}
                    },
                }
            }
        }
    )
    assert values == IssueArgs(
        user="U2", cn="A", ous=("X", "Y"), o=None, email=None, profile="smime"
    )


def test_modal_menus_preselect_their_initial_value_only_when_offered() -> None:
    issue = blocks.issue_modal("en")
    [profile] = [b for b in issue["blocks"] if b["block_id"] == "profile"]
    assert profile["element"]["initial_option"]["value"] == DEFAULT_PROFILE
    entries = [("renew", "Renewing"), ("download", "D" * 200)]
    chosen = blocks.teach_modal(
        "en", question="q?", entries=entries, initial="download", private_metadata="m"
    )
    [entry] = [b for b in chosen["blocks"] if b.get("block_id") == "entry"]
    assert entry["element"]["initial_option"]["value"] == "download"
    assert all(len(o["text"]["text"]) <= 75 for o in entry["element"]["options"])
    unknown = blocks.teach_modal(
        "en", question="q?", entries=entries, initial="gone", private_metadata="m"
    )
    [entry] = [b for b in unknown["blocks"] if b.get("block_id") == "entry"]
    assert "initial_option" not in entry["element"]
    assert unknown["callback_id"] == blocks.TEACH_CALLBACK
    assert unknown["private_metadata"] == "m"
