"""Checks declared like steps: typed parameters, declared measurements -> verdicts.

One module per family (current.py, metering.py, load_points.py, composite_schedule.py,
security.py, memory.py, eichrecht.py), each declaring its checks in `CHECKS`
(bench/checks/declare.py); library.py collects them, plan.py lists what a scenario will
measure before it runs. base.py, reference.py, arrays.py and timeline.py are what the checks share.
"""
