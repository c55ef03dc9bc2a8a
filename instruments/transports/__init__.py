"""Thin async wrappers over pyvisa (SCPI on a TCP socket) and pymodbus (register reads)."""
