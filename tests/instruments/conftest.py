"""Fixtures for the instrument layer: scripted SCPI peers, simulators and drivers, all on
127.0.0.1 with ephemeral ports, all closed again after each test."""
from __future__ import annotations

import asyncio

import pytest

from bench.clock import RealClock
from bench.sim.instruments.registry import start_simulator
from bench.sim.plant import Plant
from bench.testing.clock import ManualClock
from instruments.registry import create_instrument
from instruments.roles import Ratings

FAST_TIMEOUT_S = 0.4  # for tests that expect a timeout
NORMAL_TIMEOUT_S = 2.0


class ScriptedScpiPeer:
    """A fake instrument that expects exactly the scripted lines, in order, and sends the
    canned replies (pymeasure `expected_protocol` style, over a real socket).

    `script` is a list of (line the driver must send, reply or None). A line that differs
    from the script gets no reply. `drop_after` holds script indexes after which the
    peer closes the connection (the next connection continues the script)."""

    def __init__(self, script: list[tuple[str, str | None]], drop_after: tuple[int, ...] = ()) -> None:
        self.script = list(script)
        self.drop_after = set(drop_after)
        self.received: list[str] = []
        self.connections = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def expected(self) -> list[str]:
        return [line for line, _ in self.script]

    @property
    def address(self) -> str:
        port = self._server.sockets[0].getsockname()[1]
        return f"TCPIP::127.0.0.1::{port}::SOCKET"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def close(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while line := await reader.readline():
                index = len(self.received)
                text = line.decode().rstrip("\r\n")
                self.received.append(text)
                if index < len(self.script) and self.script[index][0] == text:
                    reply = self.script[index][1]
                    if reply is not None:
                        writer.write((reply + "\n").encode())
                        await writer.drain()
                if index in self.drop_after:
                    break
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


@pytest.fixture
def manual_clock() -> ManualClock:
    """The shared manual clock (tests/conftest.py), started at 1000 s: the times these tests set
    (`manual_clock.t = 1000.05`) are absolute."""
    return ManualClock(1000.0)


@pytest.fixture
def plant() -> Plant:
    return Plant(RealClock())


@pytest.fixture
async def scpi_peer():
    peers: list[ScriptedScpiPeer] = []

    async def make(script, drop_after=()) -> ScriptedScpiPeer:
        peer = ScriptedScpiPeer(script, drop_after)
        await peer.start()
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        await peer.close()


@pytest.fixture
async def sim():
    running = []

    async def make(driver: str, plant: Plant, **kwargs):
        s = await start_simulator(driver, plant, "127.0.0.1", kwargs.pop("port", 0), **kwargs)
        running.append(s)
        return s

    yield make
    for s in running:
        await s.close()


@pytest.fixture
async def driver():
    """Create (and by default open) a driver with test-friendly timeouts; closed at teardown."""
    made = []

    async def make(
        driver_name: str,
        address: str,
        ratings: Ratings | None = None,
        *,
        timeout_s: float = NORMAL_TIMEOUT_S,
        open_it: bool = True,
        **options,
    ):
        inst = create_instrument(f"test-{driver_name}", driver_name, address, ratings, **options)
        inst.transport.timeout_s = timeout_s
        inst.transport.backoff_s = 0.02
        made.append(inst)
        if open_it:
            await inst.open()
        return inst

    yield make
    for inst in made:
        await inst.close()
