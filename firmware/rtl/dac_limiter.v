// dac_limiter: the safety boundary between host commands and the lens/stigmator DACs.
//
// Per channel: a target register, the output register that drives the DAC, and limits
// min/max/step held in registers that start at the compiled hardware bounds HW_MIN/HW_MAX/
// HW_STEP and can only be narrowed (SET_LIMITS), never widened.
//  * SET_DAC (req_op=0) is refused -- nothing changes -- with an error code when the channel
//    does not exist, the watchdog holds, value < min, value > max, or |value - output| > step.
//  * Accepted targets are approached at no more than SLEW counts every TICK_DIV cycles
//    (hardware slew-rate limit, whatever the host sends).
//  * hold (watchdog tripped) freezes every output where it is: target := output.
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

    // decision for the present request (combinational)
    wire        ch_ok = (req_ch < NCH8);
    wire [CHW-1:0] ch = req_ch[CHW-1:0];     // index only used when ch_ok
    wire [31:0] cur = ch_ok ? {{(32-DW){1'b0}}, outv[ch]} : 32'd0;
    wire [31:0] cur_t = ch_ok ? {{(32-DW){1'b0}}, tgt[ch]} : 32'd0;
    wire [31:0] step_dist = (req_value > cur) ? (req_value - cur) : (cur - req_value);
    reg  [7:0]  err;
    always @(*) begin
        err = 8'h00;
        if (!ch_ok) err = `ERR_BAD_CHANNEL;
        else if (!req_op) begin
            if (hold) err = `ERR_WATCHDOG_HOLD;
            else if (req_value < {{(32-DW){1'b0}}, mn[ch]}) err = `ERR_BELOW_MIN;
            else if (req_value > {{(32-DW){1'b0}}, mx[ch]}) err = `ERR_ABOVE_MAX;
            else if (step_dist > {{(32-DW){1'b0}}, st[ch]}) err = `ERR_STEP_TOO_LARGE;
        end else begin
            /* verilator lint_off UNSIGNED */
            if (req_min < HW_MIN || req_max > HW_MAX || req_min > req_max || req_step > HW_STEP
                || cur < req_min || cur > req_max || cur_t < req_min || cur_t > req_max)
                err = `ERR_BAD_LIMITS;
            /* verilator lint_on UNSIGNED */
        end
    end

    integer c;
    always @(posedge clk) begin
        if (rst) begin
            tick_cnt <= {TW{1'b0}};
            rsp_valid <= 1'b0; rsp_err <= 8'h00;
            for (c = 0; c < NCH; c = c + 1) begin
                outv[c] <= RESET_VALUE[DW-1:0]; tgt[c] <= RESET_VALUE[DW-1:0];
                mn[c] <= HW_MIN[DW-1:0]; mx[c] <= HW_MAX[DW-1:0]; st[c] <= HW_STEP[DW-1:0];
            end
        end else begin
            tick_cnt <= tick ? {TW{1'b0}} : tick_cnt + 1'b1;
            rsp_valid <= req_valid;
            if (req_valid) rsp_err <= err;
            for (c = 0; c < NCH; c = c + 1) begin
                if (hold) tgt[c] <= outv[c];
                else if (tick) begin
                    if (tgt[c] > outv[c])
                        outv[c] <= ({{(32-DW){1'b0}}, tgt[c] - outv[c]} > SLEW) ? outv[c] + SLEW[DW-1:0] : tgt[c];
                    else if (tgt[c] < outv[c])
                        outv[c] <= ({{(32-DW){1'b0}}, outv[c] - tgt[c]} > SLEW) ? outv[c] - SLEW[DW-1:0] : tgt[c];
                end
            end
            if (req_valid && err == 8'h00) begin
                if (!req_op) tgt[ch] <= req_value[DW-1:0];
                else begin mn[ch] <= req_min[DW-1:0]; mx[ch] <= req_max[DW-1:0]; st[ch] <= req_step[DW-1:0]; end
            end
        end
    end
endmodule
`default_nettype wire
