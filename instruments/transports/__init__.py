"""Thin async transports: SCPI over TCP (raw sockets on the event loop, VXI-11/HiSLIP through
pyvisa-py) and pymodbus (register reads)."""
