"""Number parsing shared by the power analyser drivers: NR1/NR2/NR3 text, with each
instrument's markers for "no data" and "over range" turned into None (never a number)."""
from __future__ import annotations

import math

from instruments.roles import InstrumentError


def parse_values(name: str, command: str, reply: str, expected: int, no_data: frozenset[str],
                 separator: str = ",") -> list[float | None]:
    """`expected` comma separated numbers; a token in `no_data` (upper case, no spaces) or
    a NaN/infinite value is None. Anything else that is not a number is a malformed reply."""
    tokens = [t.strip() for t in reply.strip().split(separator)]
    if len(tokens) != expected:
        raise InstrumentError(f"{name}: malformed reply to {command!r}: {len(tokens)} values instead of "
                              f"{expected}: {reply!r}")
    values: list[float | None] = []
    for token in tokens:
        key = token.upper().replace(" ", "")
        if key in no_data:
            values.append(None)
            continue
        try:
            value = float(token)
        except ValueError:
            raise InstrumentError(f"{name}: malformed reply to {command!r}: {token!r} is not a number "
                                  f"(reply {reply!r})") from None
        values.append(None if math.isnan(value) or math.isinf(value) else value)
    return values
