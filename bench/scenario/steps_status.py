"""Steps of the status block: the status a connector reports through a session.

A scenario writes the expected statuses in 1.6 words (Available, Preparing, Charging,
SuspendedEV, SuspendedEVSE, Finishing, Reserved, Unavailable, Faulted); each version is
judged by its own rules:
- 1.6: StatusNotification of the connector (ChargePointStatus);
- 2.x: the connector status of StatusNotification (Available, Occupied, Reserved,
  Unavailable, Faulted; 1.6 Preparing is Occupied) and the chargingState of the
  TransactionEvents (Charging, SuspendedEV, SuspendedEVSE); 1.6 Finishing is the
  TransactionEvent Ended. The chargingStates EVConnected and Idle have no 1.6 status of
  their own and are passed over. The two come in separate messages whose order is free, so
  each is followed on its own: an expectation looks at the kinds it names.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import Field, field_validator

from bench.csms.events import DutEvent, EventKind
from bench.scenario.steps import StepContext, StepDef, StepFailed, _Args

STATUSES_16 = ("Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Reserved",
               "Unavailable", "Faulted")
V2X_WORD = {"Preparing": "Occupied"}  # 1.6 status -> what a 2.x charger reports instead (others: the same)
V2X_PASSED_OVER = frozenset({"EVConnected", "Idle"})  # 2.x chargingStates with no 1.6 status of their own
FINISHING = "Finishing"
# 2.x reports two things apart, each in its own message and order: the connector status
# (StatusNotification) and the charging state of the transaction (TransactionEvent).
V2X_CHARGING = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE", FINISHING})


def _dimension(token: str, v16: bool) -> str:
    return "status" if v16 or token not in V2X_CHARGING else "charging"


@dataclass
class _State:
    cursor: dict[int, int] = field(default_factory=dict)  # connector -> first event index not yet judged


def _state(ctx: StepContext) -> _State:
    return ctx.state("status", _State)


def status_token(event: DutEvent, connector: int, v16: bool) -> str | None:
    """What `event` says about the connector's status in the words the version uses (None:
    nothing, or a state passed over)."""
    if event.connector_id != connector:
        return None
    if event.kind == EventKind.STATUS:
        word = event.data.get("status")
        return None if not v16 and word in V2X_PASSED_OVER else word
    if not v16 and event.kind == EventKind.TRANSACTION_STOPPED:
        return FINISHING
    return None


class ExpectStatusArgs(_Args):
    """The connector reports these statuses in this order within `timeout_s`. The first may be
    the status it already had. `strict`: no other status in between (a repeat of the last one
    matched is fine; `allow` lists statuses tolerated in between)."""

    sequence: list[str] = Field(min_length=1)
    connector: int = Field(1, ge=1)
    timeout_s: float = Field(10.0, gt=0)
    strict: bool = True
    allow: list[str] = []

    @field_validator("sequence", "allow")
    @classmethod
    def _known(cls, words: list[str]) -> list[str]:
        bad = [w for w in words if w not in STATUSES_16]
        if bad:
            raise ValueError(f"unknown status {bad} (write 1.6 words: {', '.join(STATUSES_16)})")
        return words


def _match(current: str | None, tokens: list[tuple[int, str]], wanted: list[str], allow: set[str], strict: bool
           ) -> tuple[int, int | None, str | None]:
    """Walk the statuses after `current` (the one the connector had), [(event index, status)]:
    (how many of `wanted` matched, index of the last matched event, the first status out of
    order when strict)."""
    done, last_index, last = 0, None, current
    if current is not None and current == wanted[0]:
        done = 1
    for index, token in tokens:
        if done == len(wanted):
            break
        if token == wanted[done]:
            done, last_index, last = done + 1, index, token
        elif strict and token != last and token not in allow:
            return done, last_index, token
    return done, last_index, None


POLL_S = 0.1


async def expect_status(ctx: StepContext, args: ExpectStatusArgs) -> None:
    dut, v16 = ctx.dut, ctx.ocpp_version == "1.6"
    wanted = [w if v16 else V2X_WORD.get(w, w) for w in args.sequence]
    allow = {w if v16 else V2X_WORD.get(w, w) for w in args.allow}
    state = _state(ctx)
    start = state.cursor.get(args.connector, ctx.event_cursor)
    dimensions = {_dimension(w, v16) for w in wanted}

    def token(i: int) -> str | None:
        t = status_token(dut.events[i], args.connector, v16)
        return t if t is not None and _dimension(t, v16) in dimensions else None

    # The status the connector had before `start` (2.x: in the dimension of the first one
    # expected) counts as the first one seen.
    first = _dimension(wanted[0], v16)
    current = next((t for i in range(start - 1, -1, -1)
                    if (t := token(i)) is not None and _dimension(t, v16) == first), None)
    deadline = ctx.now() + args.timeout_s
    message = "StatusNotification" if v16 else "StatusNotification/TransactionEvent chargingState"
    while True:
        tokens = [(i, t) for i in range(start, len(dut.events)) if (t := token(i)) is not None]
        done, last_index, wrong = _match(current, tokens, wanted, allow, args.strict)
        seen = (", ".join(t for _, t in tokens) if tokens
                else f"nothing new (still {current})" if current is not None else "nothing")
        if done == len(wanted):
            state.cursor[args.connector] = last_index + 1 if last_index is not None else start
            ctx.notes.append(f"connector {args.connector}: {seen}")
            return
        if wrong is not None:
            raise StepFailed(f"expected {message} {' -> '.join(wanted)} on connector {args.connector}; "
                             f"got {wrong} before {wanted[done]} (seen: {seen})")
        if ctx.now() >= deadline:
            raise StepFailed(f"expected {message} {' -> '.join(wanted[done:])} on connector {args.connector} "
                             f"within {args.timeout_s:g} s; got {seen}")
        await ctx.clock.sleep(min(POLL_S, max(deadline - ctx.now(), 0)))


STEPS: dict[str, StepDef] = {
    "expect_status": StepDef(ExpectStatusArgs, expect_status),
}
