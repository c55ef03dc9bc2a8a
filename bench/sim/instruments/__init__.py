"""Simulated instruments speaking the real wire protocols on 127.0.0.1, driven by the Plant."""
