// dac_limiter: the safety boundary between host commands and the lens/stigmator DACs.
//
// Per channel: a target register, the output register that drives the DAC, and limits
// min/max/step held in registers that start at the compiled hardware bounds HW_MIN/HW_MAX/
// HW_STEP and can only be narrowed (SET_LIMITS), never widened.
//  * SET_DAC (req_op=0) is refused -- nothing changes -- with an error code when the channel
//    does not exist, the watchdog holds, value < min, value > max, or |value - output| > step.
//  * Accepted targets are approached at no more than SLEW counts every TICK_DIV cycles
//    (hardware slew-rate limit, whatever the host sends). The ramp's compares are registered:
//    a tick on the cycle right after an output or target write is taken one cycle later.
//  * hold (watchdog tripped) freezes every output where it is: target := output.
//  * Pipelined (4 stages, for timing): a request is decided against the outputs, targets and
//    limits as they are in its own cycle; the target/limits are written and rsp_valid is high
//    LATENCY = 4 cycles after req_valid. A SET_DAC is refused WATCHDOG_HOLD when hold is high in
//    any of those cycles. One request in flight: req_valid while one is in flight is ignored
//    (no answer; cmd_link waits for rsp_valid). The invariant below still holds because an
//    output only moves between its snapshot and its target, both checked against new limits.
// HW_MIN <= RESET_VALUE <= HW_MAX < 2**DW and HW_STEP < 2**DW (limit registers are DW bits).
// Invariant (tested): min <= output <= max for every channel at every cycle, and the output
// changes by at most SLEW per tick.
`default_nettype none
`include "cmd_defs.vh"
module dac_limiter #(
    parameter integer NCH = 8,
    parameter integer DW = 16,
    parameter [31:0] HW_MIN = 32'd0,
    parameter [31:0] HW_MAX = 32'd65535,
    parameter [31:0] HW_STEP = 32'd4096,
    parameter [31:0] RESET_VALUE = 32'd32768,
    parameter [31:0] SLEW = 32'd64,          // counts per tick
    parameter integer TICK_DIV = 100         // cycles per tick (1 us at 100 MHz)
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              req_valid,
    input  wire              req_op,         // 0: SET_DAC, 1: SET_LIMITS
    input  wire [7:0]        req_ch,
    input  wire [31:0]       req_value,
    input  wire [31:0]       req_min,
    input  wire [31:0]       req_max,
    input  wire [31:0]       req_step,
    output reg               rsp_valid,
    output reg  [7:0]        rsp_err,        // 0 = accepted, else an ERR_* code
    input  wire              hold,
    output wire [NCH*DW-1:0] dac_out,        // channel c at [c*DW +: DW]
    output wire [NCH*DW-1:0] dac_target,
    output wire [NCH*32-1:0] lim_min,
    output wire [NCH*32-1:0] lim_max,
    output wire [NCH*32-1:0] lim_step,
    output wire              ramping
);
    /* verilator lint_off UNUSEDPARAM */
    localparam integer LATENCY = 4;        // req_valid -> rsp_valid, cycles (documentation)
    /* verilator lint_on UNUSEDPARAM */
    localparam integer TW = $clog2(TICK_DIV + 1);
    localparam integer CHW = (NCH > 1) ? $clog2(NCH) : 1;
    reg [DW-1:0] outv [0:NCH-1];
    reg [DW-1:0] tgt  [0:NCH-1];
    // limit registers hold values <= HW_MAX / HW_STEP, which must fit DW bits
    reg [DW-1:0] mn   [0:NCH-1];
    reg [DW-1:0] mx   [0:NCH-1];
    reg [DW-1:0] st   [0:NCH-1];
    reg [TW-1:0] tick_cnt;
    localparam integer TICK_LAST_I = TICK_DIV - 1;
    localparam [TW-1:0] TICK_LAST = TICK_LAST_I[TW-1:0];
    localparam [7:0] NCH8 = NCH[7:0];
    wire tick = (tick_cnt == TICK_LAST);

    genvar g;
    generate
        for (g = 0; g < NCH; g = g + 1) begin : g_pack
            assign dac_out[g*DW +: DW] = outv[g];
            assign dac_target[g*DW +: DW] = tgt[g];
            assign lim_min[g*32 +: 32] = {{(32-DW){1'b0}}, mn[g]};
            assign lim_max[g*32 +: 32] = {{(32-DW){1'b0}}, mx[g]};
            assign lim_step[g*32 +: 32] = {{(32-DW){1'b0}}, st[g]};
        end
    endgenerate

    reg [NCH-1:0] diff;
    integer k;
    always @(*) for (k = 0; k < NCH; k = k + 1) diff[k] = (outv[k] != tgt[k]);
    assign ramping = |diff;

    // ---- request pipeline (timing: one carry chain per stage; 54 -> >100 MHz on ECP5) ----
    // A: the channel's registers muxed out and the request registered (state as it is in the
    //    request's cycle: every decision below is made against that snapshot)
    // B: the comparisons (one carry chain each) and output - value / value - output
    // C: |value - output| > step and the decision (error priority as before)
    // D: commit (target or limits written) and the response; the watchdog hold is sampled in
    //    every stage, so a hold in any cycle of the request's flight refuses a SET_DAC.
    // One request in flight: req_valid while busy is ignored (no answer, nothing changes);
    // cmd_link waits for rsp_valid before the next request.
    wire busy;
    wire take = req_valid && !busy;
    wire        ch_ok = (req_ch < NCH8);
    wire [CHW-1:0] ch = req_ch[CHW-1:0];     // index only used when ch_ok
    localparam integer VW = DW + 1;
    reg           a_v, a_op, a_ok, a_hold;
    reg [CHW-1:0] a_ch;
    reg [31:0]    a_val, a_min, a_max, a_step;
    reg [DW-1:0]  a_cur, a_cur_t, a_mn, a_mx, a_st;
    always @(posedge clk) begin
        if (rst) a_v <= 1'b0;
        else a_v <= take;
        if (take) begin
            a_op <= req_op; a_ok <= ch_ok; a_hold <= hold; a_ch <= ch;
            a_val <= req_value; a_min <= req_min; a_max <= req_max; a_step <= req_step;
            a_cur <= ch_ok ? outv[ch] : {DW{1'b0}};
            a_cur_t <= ch_ok ? tgt[ch] : {DW{1'b0}};
            a_mn <= mn[ch]; a_mx <= mx[ch]; a_st <= st[ch];
        end
    end
    wire [31:0] a_cur32 = {{(32-DW){1'b0}}, a_cur};
    wire [31:0] a_cur_t32 = {{(32-DW){1'b0}}, a_cur_t};
    wire a_big = (a_val > {{(32-DW){1'b0}}, {DW{1'b1}}});   // value does not fit DW bits (> every max)
    reg           b_v, b_op, b_ok, b_hold, b_big, b_lt, b_gt, b_limbad;
    reg [CHW-1:0] b_ch;
    reg [DW-1:0]  b_val, b_min, b_max, b_step, b_st;
    reg [VW-1:0]  b_up;           // value - output (DW+1 bits, two's complement)
    reg [DW-1:0]  b_dn;           // output - value (used when value < output)
    always @(posedge clk) begin
        if (rst) b_v <= 1'b0;
        else b_v <= a_v;
        b_op <= a_op; b_ok <= a_ok; b_hold <= a_hold | hold; b_ch <= a_ch;
        b_val <= a_val[DW-1:0]; b_min <= a_min[DW-1:0]; b_max <= a_max[DW-1:0]; b_step <= a_step[DW-1:0];
        b_st <= a_st;
        b_big <= a_big;
        b_lt <= (a_val[DW-1:0] < a_mn);
        b_gt <= (a_val[DW-1:0] > a_mx);
        b_up <= {1'b0, a_val[DW-1:0]} - {1'b0, a_cur};
        b_dn <= a_cur - a_val[DW-1:0];
        /* verilator lint_off UNSIGNED */
        b_limbad <= (a_min < HW_MIN) || (a_max > HW_MAX) || (a_min > a_max) || (a_step > HW_STEP)
                    || (a_cur32 < a_min) || (a_cur32 > a_max) || (a_cur_t32 < a_min) || (a_cur_t32 > a_max);
        /* verilator lint_on UNSIGNED */
    end
    // |value - output| > step: the non-negative one of b_up / b_dn against step
    wire b_step_bad = b_up[DW] ? (b_dn > b_st) : (b_up[DW-1:0] > b_st);
    reg  [7:0] b_err;
    always @(*) begin
        b_err = 8'h00;
        if (!b_ok) b_err = `ERR_BAD_CHANNEL;
        else if (!b_op) begin
            if (b_hold || hold) b_err = `ERR_WATCHDOG_HOLD;
            else if (!b_big && b_lt) b_err = `ERR_BELOW_MIN;
            else if (b_big || b_gt) b_err = `ERR_ABOVE_MAX;
            else if (b_step_bad) b_err = `ERR_STEP_TOO_LARGE;
        end else if (b_limbad) b_err = `ERR_BAD_LIMITS;
    end
    reg           c_v, c_op, c_ok;
    reg [CHW-1:0] c_ch;
    reg [DW-1:0]  c_val, c_min, c_max, c_step;
    reg [7:0]     c_err;
    always @(posedge clk) begin
        if (rst) c_v <= 1'b0;
        else c_v <= b_v;
        c_op <= b_op; c_ok <= b_ok; c_ch <= b_ch; c_err <= b_err;
        c_val <= b_val; c_min <= b_min; c_max <= b_max; c_step <= b_step;
    end
    wire c_held = c_ok && !c_op && hold;     // hold in the last cycle of the flight
    wire commit = c_v && (c_err == 8'h00) && !c_held;
    assign busy = a_v | b_v | c_v;

    // ramp (registered for timing: the subtraction and compares end in flip-flops, not in the
    // outputs' enables): d = target - output (DW+1 bits, two's complement), then constant compares:
    // more than SLEW up / down -> move SLEW, else land on the target. The flags of cycle t are
    // used at edge t+1 only when neither output nor target was written at edge t (stale = 0), so
    // they always describe the values they act on; a tick that finds them stale is remembered
    // (pend) and taken one cycle later. Outputs still move at most SLEW per tick.
    localparam [VW-1:0] SLEW_V = SLEW[VW-1:0];
    localparam [VW-1:0] NEG_SLEW_V = ~SLEW_V + 1'b1;
    reg [NCH-1:0] up_far, dn_far;
    reg [NCH-1:0] up_r, dn_r, ne_r, stale, pend;
    reg [VW-1:0] dd;
    integer r;
    always @(*) for (r = 0; r < NCH; r = r + 1) begin
        dd = {1'b0, tgt[r]} - {1'b0, outv[r]};
        up_far[r] = !dd[DW] && (dd > SLEW_V);
        dn_far[r] = dd[DW] && (dd < NEG_SLEW_V);
    end
    reg [NCH-1:0] move, tgt_wr;
    integer q;
    always @(*) for (q = 0; q < NCH; q = q + 1) begin
        move[q] = !hold && !stale[q] && (tick || pend[q]) && ne_r[q];
        tgt_wr[q] = hold || (commit && !c_op && (c_ch == q[CHW-1:0]));
    end

    integer c;
    always @(posedge clk) begin
        if (rst) begin
            tick_cnt <= {TW{1'b0}};
            rsp_valid <= 1'b0; rsp_err <= 8'h00;
            up_r <= {NCH{1'b0}}; dn_r <= {NCH{1'b0}}; ne_r <= {NCH{1'b0}};
            stale <= {NCH{1'b1}}; pend <= {NCH{1'b0}};
            for (c = 0; c < NCH; c = c + 1) begin
                outv[c] <= RESET_VALUE[DW-1:0]; tgt[c] <= RESET_VALUE[DW-1:0];
                mn[c] <= HW_MIN[DW-1:0]; mx[c] <= HW_MAX[DW-1:0]; st[c] <= HW_STEP[DW-1:0];
            end
        end else begin
            tick_cnt <= tick ? {TW{1'b0}} : tick_cnt + 1'b1;
            rsp_valid <= c_v;
            if (c_v) rsp_err <= c_held ? `ERR_WATCHDOG_HOLD : c_err;
            up_r <= up_far; dn_r <= dn_far; ne_r <= diff;
            stale <= move | tgt_wr;
            pend <= (hold ? {NCH{1'b0}} : stale & (pend | {NCH{tick}}));
            for (c = 0; c < NCH; c = c + 1) begin
                if (hold) tgt[c] <= outv[c];
                else if (move[c]) outv[c] <= up_r[c] ? outv[c] + SLEW[DW-1:0]
                                           : dn_r[c] ? outv[c] - SLEW[DW-1:0] : tgt[c];
            end
            if (commit) begin
                if (!c_op) tgt[c_ch] <= c_val;
                else begin mn[c_ch] <= c_min; mx[c_ch] <= c_max; st[c_ch] <= c_step; end
            end
        end
    end
endmodule
`default_nettype wire
