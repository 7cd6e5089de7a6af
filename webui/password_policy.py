"""The password policy: what a new password must be, in one place, for every way one is set.

It follows the NCSC's password guidance: length over composition. A password needs at least 12
characters (three random words pass easily; "Tr0ub4dor&3" style rules make passwords people forget
and attackers guess anyway), and no mix of upper case, digits or symbols is required. What is
refused instead is what attackers try first: the most common passwords (a list shipped with the app,
webui/data/common_passwords.txt, checked offline), a common password padded with digits or symbols
to reach the length, and the person's own username or name. There is no expiry: the NCSC advises
changing a password only when it may be known to someone else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MINIMUM_LENGTH = 12
# Long enough for any passphrase; a bound so that nobody can make the server hash a megabyte.
MAXIMUM_LENGTH = 256
# Name parts shorter than this ("Jo", "Lee") are too common inside ordinary words to refuse.
SHORTEST_NAME_PART = 4
COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common_passwords.txt"
_PADDING = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_NOT_A_LETTER_OR_DIGIT = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Person:
    """Whose password it is: a password may not be their username or their name."""

    username: str
    display_name: str


def problems_with(password: str, person: Person) -> list[str]:
    """What is wrong with `password` as `person`'s new password, each said as what to fix; [] if fine."""
    if len(password) < MINIMUM_LENGTH:
        return [
            f"Your password must be at least {MINIMUM_LENGTH} characters long. "
            "Three random words together make a long password that is easy to remember."
        ]
    if len(password) > MAXIMUM_LENGTH:
        return [f"Your password must be {MAXIMUM_LENGTH} characters or fewer."]
    found = []
    if is_common(password):
        found.append(
            "Your password is one of the most commonly used passwords, or one with numbers or symbols "
            "added, so it would be guessed quickly. Choose a different one, such as three random words."
        )
    if contains_who_they_are(password, person):
        found.append("Your password must not contain your username or your name.")
    return found


def is_common(password: str) -> bool:
    """Whether `password`, in any case, is a common password, or one padded with digits or symbols."""
    lowered = password.lower()
    common = common_passwords()
    return lowered in common or _PADDING.sub("", lowered) in common


def contains_who_they_are(password: str, person: Person) -> bool:
    """Whether `password` holds the person's username, whole name or a part of their name (any case,
    ignoring spaces and punctuation, so "jo.bloggs" is found in "JoBloggs2025!!")."""
    squeezed = _squeeze(password)
    words = [person.username, person.display_name, *re.split(r"[\s.\-_']+", person.username)]
    words += person.display_name.split()
    parts = {_squeeze(word) for word in words}
    return any(len(part) >= SHORTEST_NAME_PART and part in squeezed for part in parts)


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower case (read once per process)."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _squeeze(text: str) -> str:
    return _NOT_A_LETTER_OR_DIGIT.sub("", text.lower())
