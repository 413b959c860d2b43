"""The USB-key model table: read from the packaged models.toml, refused when malformed."""

from __future__ import annotations

import re

import pytest

from usbkey.pkcs11.models import TOKEN_MODELS, TokenModel, parse_models

ONE = """
[[model]]
id = "a"
name = "A key"
driver = "A driver"
linux = "/usr/lib/a.so"
windows = 'C:\\a.dll'
macos = "/usr/local/lib/a.dylib"
"""


def test_packaged_table_lists_the_known_models_in_page_order() -> None:
    assert [model.id for model in TOKEN_MODELS] == ["safenet", "yubikey", "opensc", "softhsm"]
    yubikey = TOKEN_MODELS[1]
    assert yubikey.windows == r"C:\Program Files\Yubico\Yubico PIV Tool\bin\libykcs11.dll"
    assert yubikey.linux == "/usr/lib/x86_64-linux-gnu/libykcs11.so"


def test_parse_models_reads_each_table_into_a_record() -> None:
    assert parse_models(ONE) == (
        TokenModel(
            id="a",
            name="A key",
            driver="A driver",
            linux="/usr/lib/a.so",
            windows=r"C:\a.dll",
            macos="/usr/local/lib/a.dylib",
        ),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "models.toml: no [[model]] table"),
        ('model = "a"', "models.toml: no [[model]] table"),
        (ONE.replace('driver = "A driver"\n', ""), "models.toml: model 1 lacks driver"),
        (ONE + 'colour = "red"\n', "models.toml: model 1 has unknown field colour"),
        (ONE.replace('"/usr/lib/a.so"', "3"), "models.toml: model 1: linux must be a string"),
        (ONE + ONE, "models.toml: model id a given more than once"),
    ],
)
def test_parse_models_refuses_a_malformed_table(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_models(text)
