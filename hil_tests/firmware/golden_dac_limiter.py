"""Cycle-accurate golden model of dac_limiter.v (requests, refusals, ramp, hold).

The RTL decides a request against the state of its own cycle and commits it (target or limits
written, answer out) ``LATENCY`` rising edges later (the edge that registers the request is the
first); a SET_DAC is refused WATCHDOG_HOLD when ``hold`` is high in any cycle of that flight.
A request while one is in flight is ignored.

The ramp's flags (``d = target - output`` beyond +-SLEW, ``d != 0``) are registered: the flags of
one cycle act at the next edge only when neither output nor target was written at the edge in
between (``stale`` false); a tick that finds them stale is kept (``pend``) and taken one cycle
later."""

from __future__ import annotations

ERR = {"BAD_CHANNEL": 0x05, "BELOW_MIN": 0x06, "ABOVE_MAX": 0x07, "STEP_TOO_LARGE": 0x08,
       "WATCHDOG_HOLD": 0x09, "BAD_LIMITS": 0x0A}
LATENCY = 4   # cycles from req_valid to rsp_valid (dac_limiter.v LATENCY)


class DacLimiterModel:
    def __init__(self, nch, hw_min, hw_max, hw_step, reset, slew, tick_div):
        self.nch, self.hw_min, self.hw_max, self.hw_step = nch, hw_min, hw_max, hw_step
        self.slew, self.tick_div = slew, tick_div
        self.out = [reset] * nch
        self.tgt = [reset] * nch
        self.lim = [[hw_min, hw_max, hw_step] for _ in range(nch)]
        self.tick_cnt = 0
        self.up = [False] * nch      # registered ramp flags (dac_limiter.v up_r, dn_r, ne_r)
        self.dn = [False] * nch
        self.ne = [False] * nch
        self.stale = [True] * nch
        self.pend = [False] * nch
        self.flight = None    # [req, err decided at the request's cycle, hold seen, edges so far]

    @property
    def busy(self) -> bool:
        return self.flight is not None

    def decide(self, op, ch, value, mn, mx, st, hold) -> int:
        if ch >= self.nch:
            return ERR["BAD_CHANNEL"]
        lo, hi, step = self.lim[ch]
        if op == 0:
            if hold:
                return ERR["WATCHDOG_HOLD"]
            if value < lo:
                return ERR["BELOW_MIN"]
            if value > hi:
                return ERR["ABOVE_MAX"]
            if abs(value - self.out[ch]) > step:
                return ERR["STEP_TOO_LARGE"]
            return 0
        cur, cur_t = self.out[ch], self.tgt[ch]
        if (mn < self.hw_min or mx > self.hw_max or mn > mx or st > self.hw_step
                or not mn <= cur <= mx or not mn <= cur_t <= mx):
            return ERR["BAD_LIMITS"]
        return 0

    def clock(self, req, hold):
        """One rising edge. req = None or (op, ch, value, min, max, step) presented in the cycle
        before the edge. Returns the error code of the request answered at this edge, else None
        (a request presented while one is in flight is ignored)."""
        if self.flight is None and req:
            self.flight = [req, self.decide(*req, 0), bool(hold), 0]
        elif self.flight is not None:
            self.flight[2] = self.flight[2] or bool(hold)
        done = None
        if self.flight is not None:
            self.flight[3] += 1
            if self.flight[3] == LATENCY:
                done, self.flight = self.flight, None
        tick = self.tick_cnt == self.tick_div - 1
        self.tick_cnt = 0 if tick else self.tick_cnt + 1
        new_out, new_tgt = list(self.out), list(self.tgt)
        move = [False] * self.nch
        for c in range(self.nch):
            move[c] = not hold and not self.stale[c] and (tick or self.pend[c]) and self.ne[c]
            if hold:
                new_tgt[c] = self.out[c]
            elif move[c]:
                new_out[c] = (self.out[c] + self.slew if self.up[c] else
                              self.out[c] - self.slew if self.dn[c] else self.tgt[c])
        err = None
        tgt_wr = [bool(hold)] * self.nch
        if done is not None:
            (op, ch, value, mn, mx, st), err, held, _ = done
            if op == 0 and ch < self.nch and held:
                err = ERR["WATCHDOG_HOLD"]
            if err == 0:
                if op == 0:
                    new_tgt[ch] = value
                    tgt_wr[ch] = True
                else:
                    self.lim[ch] = [mn, mx, st]
        for c in range(self.nch):
            d = self.tgt[c] - self.out[c]
            self.up[c], self.dn[c], self.ne[c] = d > self.slew, d < -self.slew, d != 0
            self.pend[c] = False if hold else self.stale[c] and (self.pend[c] or tick)
            self.stale[c] = move[c] or tgt_wr[c]
        self.out, self.tgt = new_out, new_tgt
        return err
