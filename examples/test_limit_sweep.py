"""The charging limit swept from 6 to 32 A in 2 A steps during one transaction: at each limit,
the current the charger lets the EV draw and the PWM duty it offers are judged.

Run against the virtual lab:  pytest examples/test_limit_sweep.py --lab-config lab_config.yaml
"""
LIMITS_A = range(6, 33, 2)  # IEC 61851-1 Annex A: 6 A is the lowest PWM offer
HOLD_S = 6  # longer than the settle time the checks allow (dut.reaction_time_s + ev.reaction_time_s)


async def test_limit_sweep(position):
    # The configured car (ev.max_current_a, 16 A on the default bench) draws at most its own
    # maximum: above it the current is the car's and the PWM offer is what is judged; a car
    # drawing up to 32 A needs loads rated for 32 A per phase (instruments.*.ratings).
    await position.step("plug_in")
    await position.step("remote_start", id_tag="TAG-ACCEPTED")
    await position.step("ev_state", state="C")
    for limit in LIMITS_A:
        since = position.mark()  # judge each limit on its own stretch of the recording
        await position.step("set_profile", purpose="TxProfile", stack_level=1, limit=limit)
        await position.hold(HOLD_S)
        current = await position.check("current_follows_limit", since=since)
        pwm = await position.check("pwm_matches_limit", since=since)
        # a passing check returns its record: every measurement with value, unit and limits
        assert current.samples and pwm.samples, f"{limit} A: nothing was compared"
    await position.step("remote_stop")
    await position.step("unplug")
