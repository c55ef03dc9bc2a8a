"""`ocpp.jsonl`: every OCPP frame in both directions, as it was on the wire.

One JSON object per line, flushed within FLUSH_AFTER_S of being written (and on close, which
every exit path of a run reaches), so a killed process loses at most that much:
    {"t_mono_s": 12.345, "utc": "2025-01-01T12:00:00.000Z", "cp_id": "CP1",
     "dir": "dut->csms", "frame": [2, "1", "Heartbeat", {}], "action": "Heartbeat"}
`frame` is the parsed JSON array; a frame that is not a JSON array is kept as
`raw` (string) with `frame: null`. For CALLRESULT/CALLERROR, `action` is the
action of the matching CALL when we saw it.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench.clock import Clock, iso_utc

DUT_TO_CSMS = "dut->csms"
CSMS_TO_DUT = "csms->dut"
_OTHER_SIDE = {DUT_TO_CSMS: CSMS_TO_DUT, CSMS_TO_DUT: DUT_TO_CSMS}

# OCPP-J message type ids (same in 1.6, 2.0.1 and 2.1; 2.1 adds 5 and 6 below).
CALL, CALLRESULT, CALLERROR = 2, 3, 4
CALLRESULTERROR, SEND = 5, 6  # OCPP 2.1 only


@dataclass(frozen=True)
class LogEntry:
    t_mono_s: float
    utc: str
    cp_id: str
    direction: str  # DUT_TO_CSMS or CSMS_TO_DUT
    frame: list[Any] | None
    raw: str | None = None  # only when the frame did not parse as a JSON array
    action: str | None = None

    @property
    def message_type(self) -> int | None:
        if self.frame and isinstance(self.frame[0], int):
            return self.frame[0]
        return None

    @property
    def unique_id(self) -> str | None:
        if self.frame and len(self.frame) > 1 and isinstance(self.frame[1], str):
            return self.frame[1]
        return None

    @property
    def payload(self) -> Any:
        """The payload of a CALL or CALLRESULT (None for anything else)."""
        if self.message_type == CALL and self.frame and len(self.frame) > 3:
            return self.frame[3]
        if self.message_type == CALLRESULT and self.frame and len(self.frame) > 2:
            return self.frame[2]
        return None

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "t_mono_s": self.t_mono_s,
            "utc": self.utc,
            "cp_id": self.cp_id,
            "dir": self.direction,
            "frame": self.frame,
        }
        if self.raw is not None:
            out["raw"] = self.raw
        if self.action is not None:
            out["action"] = self.action
        return out

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> LogEntry:
        return cls(
            t_mono_s=data["t_mono_s"],
            utc=data["utc"],
            cp_id=data["cp_id"],
            direction=data["dir"],
            frame=data.get("frame"),
            raw=data.get("raw"),
            action=data.get("action"),
        )


def parse_frame(raw: str) -> list[Any] | None:
    """The frame as a JSON array, or None when it is not one."""
    try:
        parsed = json.loads(raw)
    except (ValueError, TypeError, RecursionError):  # RecursionError: nested too deep for the parser
        return None
    return parsed if isinstance(parsed, list) else None


# a flush per frame cost a tenth of the CSMS's CPU at 1,000 chargers; one per interval bounds the loss
FLUSH_AFTER_S = 0.2

# frames kept in memory besides the file: the file is the record; a long run must not grow with it
RECENT_FRAMES = 10_000


class MessageLog:
    """Appends frames to `path` (if given) and keeps the recent ones in `entries` (between
    RECENT_FRAMES and twice that when there is a file, all of them when there is none)."""

    def __init__(self, path: Path | None, clock: Clock) -> None:
        self.path = path
        self._clock = clock
        self.entries: list[LogEntry] = []
        # (cp_id, direction of the CALL, unique id) -> action, until answered.
        self._open_calls: dict[tuple[str, str, str], str] = {}
        self._file: IO[str] | None = None
        self._flush_pending = False
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def record(self, cp_id: str, direction: str, raw: str) -> LogEntry:
        if direction not in _OTHER_SIDE:
            raise ValueError(f"direction must be {DUT_TO_CSMS!r} or {CSMS_TO_DUT!r}, not {direction!r}")
        frame = parse_frame(raw)
        entry = LogEntry(
            t_mono_s=self._clock.monotonic(),
            utc=iso_utc(self._clock.utcnow()),
            cp_id=cp_id,
            direction=direction,
            frame=frame,
            raw=None if frame is not None else raw,
            action=self._action_of(cp_id, direction, frame),
        )
        self.entries.append(entry)
        if self._file is not None:
            self._file.write(json.dumps(entry.to_json_dict(), separators=(",", ":")) + "\n")
            self._schedule_flush()
            if len(self.entries) > 2 * RECENT_FRAMES:
                del self.entries[:RECENT_FRAMES]  # amortised: one cut per RECENT_FRAMES frames
        return entry

    def _schedule_flush(self) -> None:
        if self._flush_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside an event loop (a tool, a test): no timer to wait for
            self.flush()
            return
        self._flush_pending = True
        loop.call_at(loop.time() + FLUSH_AFTER_S, self.flush)  # real or warped: either way soon

    def flush(self) -> None:
        self._flush_pending = False
        if self._file is not None:
            self._file.flush()

    def _action_of(self, cp_id: str, direction: str, frame: list[Any] | None) -> str | None:
        if not frame or len(frame) < 2 or not isinstance(frame[1], str):
            return None
        kind, unique_id = frame[0], frame[1]
        if kind in (CALL, SEND):
            action = frame[2] if len(frame) > 2 and isinstance(frame[2], str) else None
            if kind == CALL and action is not None:
                self._open_calls[(cp_id, direction, unique_id)] = action
            return action
        if kind in (CALLRESULT, CALLERROR, CALLRESULTERROR):
            # The answer travels the other way than the call it answers.
            return self._open_calls.pop((cp_id, _OTHER_SIDE[direction], unique_id), None)
        return None

    def for_cp(self, cp_id: str) -> list[LogEntry]:
        return [e for e in self.entries if e.cp_id == cp_id]

    def close(self) -> None:
        self._flush_pending = False
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> MessageLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_message_log(path: Path) -> list[LogEntry]:
    """Read an `ocpp.jsonl` back (for reports and checks after the run)."""
    entries = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                entries.append(LogEntry.from_json_dict(json.loads(line)))
    return entries
