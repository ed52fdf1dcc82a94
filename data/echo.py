"""How much of a value from a user or a file an error message repeats: about 80 characters.

A message that quotes what it refuses is clearer, but one that quotes a pasted megabyte (or a
config.json integer of a million digits) is unreadable and makes the refusal itself expensive.
"""

from __future__ import annotations

ECHO_LIMIT = 80


def shown(value: object, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)`` cut to ``limit`` characters (with "…" where it was cut).

    Args:
        value: anything; an int too long to print cheaply is described by its number of digits.
        limit: the most characters returned.

    Returns:
        The text to put in an error message.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        # repr of a huge int is quadratic and Python refuses ints over 4300 digits: describe it instead.
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, str) and len(value) > 4 * limit:
        value = value[: 4 * limit]  # repr of the head only: a pasted megabyte is never copied whole
        text = repr(value)[:-1] + "…" + repr(value)[-1]
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown_text(text: str, limit: int = ECHO_LIMIT) -> str:
    """Typed text for a message, in quotes and cut to ``limit`` characters; same as :func:`shown` for a str."""
    return shown(str(text), limit)
