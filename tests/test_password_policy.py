"""The password policy: at least 12 characters with no composition rules, never a common password
(or one padded with digits or symbols), never the person's username or name; each refusal says what
to fix."""

from __future__ import annotations

import pytest

from webui.password_policy import (
    COMMON_PASSWORDS_FILE,
    MAXIMUM_LENGTH,
    MINIMUM_LENGTH,
    Person,
    common_passwords,
    problems_with,
)

JO = Person(username="jo.bloggs", display_name="Josephine Bloggs")


def test_three_random_words_are_a_good_password() -> None:
    assert problems_with("kettle orbit lantern", JO) == []


def test_a_long_password_needs_no_digits_symbols_or_capitals() -> None:
    assert problems_with("otterpianovelvet", JO) == []


def test_a_password_must_be_at_least_12_characters() -> None:
    assert MINIMUM_LENGTH == 12
    assert problems_with("kettleorbit", JO) == [  # 11 characters
        "Your password must be at least 12 characters long. Three random words together make a long "
        "password that is easy to remember."
    ]
    assert problems_with("kettleorbitz", JO) == []  # 12


def test_a_password_longer_than_the_limit_is_refused_with_the_limit() -> None:
    assert problems_with("a" * (MAXIMUM_LENGTH + 1), JO) == [
        f"Your password must be {MAXIMUM_LENGTH} characters or fewer."
    ]


@pytest.mark.parametrize("common", ["qwerty123456", "QWERTY123456", "1qaz2wsx3edc", "leavemealone"])
def test_a_common_password_is_refused_in_any_case(common: str) -> None:
    problems = problems_with(common, JO)
    assert len(problems) == 1
    assert "one of the most commonly used passwords" in problems[0]


@pytest.mark.parametrize("padded", ["password123456", "sunshine2024!!", "!!football1234", "iloveyou_1234"])
def test_a_common_password_padded_with_digits_or_symbols_is_refused(padded: str) -> None:
    assert any("most commonly used passwords" in problem for problem in problems_with(padded, JO))


@pytest.mark.parametrize(
    "password", ["jo.bloggs-is-me", "JoBloggs2025!!", "my name is josephine", "the bloggs family"]
)
def test_a_password_holding_the_username_or_the_name_is_refused(password: str) -> None:
    assert "Your password must not contain your username or your name." in problems_with(password, JO)


def test_a_short_part_of_a_name_inside_a_word_is_not_refused() -> None:
    al = Person(username="al.ng", display_name="Al Ng")
    assert problems_with("metal kangaroo signal", al) == []


def test_the_common_password_list_ships_with_the_app_and_is_read_offline() -> None:
    common = common_passwords()
    assert COMMON_PASSWORDS_FILE.is_file()
    assert len(common) >= 30_000 - 100  # a few entries repeat once lower-cased
    assert {"123456", "password", "qwerty123456"} <= common
    assert not any(entry.startswith("#") for entry in common)
