"""Number parsing shared by the power analyser drivers: NR1/NR2/NR3 text, with each
instrument's markers for "no data" and "over range" turned into None (never a number),
and the reading built from the values in the order both drivers ask for them."""
from __future__ import annotations

import math

from instruments.roles import InstrumentError, PowerMeterReading


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


def analyser_reading(values: list[float | None], n: int) -> PowerMeterReading:
    """The reading from values in the drivers' item order: U, I, P per element (n each),
    then total P, frequency and imported energy."""
    v = values
    return PowerMeterReading(
        voltage_v=v[0:n], current_a=v[n:2 * n], power_w=v[2 * n:3 * n],
        power_total_w=v[3 * n], frequency_hz=v[3 * n + 1], energy_import_wh=v[3 * n + 2],
    )
