// cmd_link: the host command link. UART 8N1 -> COBS decoder -> CRC-16 check -> command
// execution -> response (CRC-16, COBS encoder) -> UART. Frame layout, codes and errors come
// from cmd_defs.vh, generated from firmware/link_protocol.yaml (see docs/firmware.md).
//
// Every bad frame (COBS error, bad length, bad CRC, unknown command, wrong data length) is
// counted and answered with an error frame {ERROR_CMD, seq, 2, code, cmd}; it is never acted
// on. DAC requests are decided by dac_limiter, not here. Bytes arriving while a decoded frame
// still waits to be executed (host did not wait for the answer) are discarded up to the next
// delimiter and counted as length errors (rx overrun). Empty frames (0x00 0x00) are ignored.
`default_nettype none
`include "cmd_defs.vh"
module cmd_link #(
    parameter integer CLKS_PER_BIT = 868,
    parameter integer NCH = 8,
    parameter integer DW = 16,
    parameter integer NET_PLACEHOLDER = 1,
    parameter integer SHIFT_RESET = 4,        // network input shifts after reset
    parameter integer DSHIFT_RESET = 4
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              rx,
    output wire              tx,
    // watchdog
    output reg               hb_pulse,
    output reg               resume_pulse,
    // dac_limiter request / response
    output reg               dac_req_valid,
    output reg               dac_req_op,
    output reg  [7:0]        dac_req_ch,
    output reg  [31:0]       dac_req_value,
    output reg  [31:0]       dac_req_min,
    output reg  [31:0]       dac_req_max,
    output reg  [31:0]       dac_req_step,
    input  wire              dac_rsp_valid,
    input  wire [7:0]        dac_rsp_err,
    input  wire [NCH*DW-1:0] dac_out,
    input  wire [NCH*DW-1:0] dac_target,
    input  wire [NCH*32-1:0] lim_min,
    input  wire [NCH*32-1:0] lim_max,
    input  wire [NCH*32-1:0] lim_step,
    // status inputs
    input  wire [31:0]       st_flags,
    input  wire [31:0]       st_frames,
    input  wire [31:0]       st_ingest_errors,
    input  wire [31:0]       st_triggers,
    input  wire [31:0]       st_wd_trips,
    // trigger event queue (head: {frame[31:0], timestamp[47:0], score[15:0]})
    input  wire              ev_valid,
    input  wire [7:0]        ev_count,
    input  wire [95:0]       ev_data,
    output reg               ev_pop,
    output reg  [31:0]       threshold,
    output reg  [4:0]        shift,          // SET_SHIFTS
    output reg  [4:0]        dshift,
    // own counters (also reported by GET_STATUS)
    output reg  [31:0]       cnt_rx_ok,
    output reg  [31:0]       cnt_crc_err,
    output reg  [31:0]       cnt_len_err,
    output reg  [31:0]       cnt_unknown,
    output reg  [31:0]       cnt_refused
);
    localparam integer RXB = `PROTO_RX_BUFFER;
    localparam integer MAXD = `PROTO_MAX_DATA;
    localparam integer CHW = (NCH > 1) ? $clog2(NCH) : 1;
    localparam [5:0] RXB6 = RXB[5:0];     // rx_buffer must be <= 63
    localparam integer RXW = $clog2(RXB);
    localparam [7:0] NCH8 = NCH[7:0];

    // ---------------------------------------------------------------- UART
    wire [7:0] rx_byte;
    wire       rx_valid, rx_ferr;
    reg  [7:0] u_data;
    reg        u_valid;
    wire       u_ready;
    uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_rx (
        .clk(clk), .rst(rst), .rx(rx), .m_data(rx_byte), .m_valid(rx_valid), .frame_err(rx_ferr));
    uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_tx (
        .clk(clk), .rst(rst), .s_data(u_data), .s_valid(u_valid), .s_ready(u_ready), .tx(tx));

    // ---------------------------------------------------------------- COBS decoder + CRC
    reg [7:0]  rbuf [0:RXB-1];
    reg [5:0]  dcount;           // decoded bytes of the frame in progress
    reg        overflow, first, blk_ff, discard;
    reg [7:0]  blk_left;
    reg [15:0] crc_rx;
    reg        frame_ready, f_cobs_err, f_overflow, f_crc_ok, overrun;
    reg [5:0]  f_len;
    wire       frame_take;
    wire       emit_en = (blk_left == 8'd0) ? (!first && !blk_ff) : 1'b1;
    wire [7:0] emit_byte = (blk_left == 8'd0) ? 8'h00 : rx_byte;
    wire [15:0] crc_rx_next;
    crc16_update u_crc_rx (.crc_in(crc_rx), .data(emit_byte), .crc_out(crc_rx_next));

    // the receive buffer is written outside the reset branch (its contents need no reset): keeps
    // the high-fanout reset net out of its write enables (ECP5 critical path, session 5)
    wire rbuf_we = rx_valid && !discard && !frame_ready && (rx_byte != 8'h00) && emit_en && (dcount < RXB6);
    always @(posedge clk) if (rbuf_we) rbuf[dcount[RXW-1:0]] <= emit_byte;

    always @(posedge clk) begin
        if (rst) begin
            dcount <= 6'd0; overflow <= 1'b0; first <= 1'b1; blk_ff <= 1'b0; discard <= 1'b0;
            blk_left <= 8'd0; crc_rx <= 16'hFFFF; frame_ready <= 1'b0; f_cobs_err <= 1'b0;
            f_overflow <= 1'b0; f_crc_ok <= 1'b0; f_len <= 6'd0; overrun <= 1'b0;
        end else begin
            overrun <= 1'b0;
            if (frame_take) frame_ready <= 1'b0;
            if (rx_valid) begin
                if (discard) begin
                    if (rx_byte == 8'h00) discard <= 1'b0;
                end else if (frame_ready) begin
                    if (rx_byte != 8'h00) begin discard <= 1'b1; overrun <= 1'b1; end
                end else if (rx_byte == 8'h00) begin
                    if (!first) begin
                        frame_ready <= 1'b1;
                        f_cobs_err <= (blk_left != 8'd0);
                        f_overflow <= overflow;
                        f_crc_ok <= (crc_rx == 16'h0000);
                        f_len <= dcount;
                    end
                    dcount <= 6'd0; overflow <= 1'b0; first <= 1'b1; blk_ff <= 1'b0;
                    blk_left <= 8'd0; crc_rx <= 16'hFFFF;
                end else begin
                    if (blk_left == 8'd0) begin
                        blk_left <= rx_byte - 1'b1;
                        blk_ff <= (rx_byte == 8'hFF);
                        first <= 1'b0;
                    end else blk_left <= blk_left - 1'b1;
                    if (emit_en) begin
                        if (dcount < RXB6) begin
                            dcount <= dcount + 1'b1;
                            crc_rx <= crc_rx_next;
                        end else overflow <= 1'b1;
                    end
                end
            end
        end
    end

    // ---------------------------------------------------------------- frame checks
    wire [7:0] b_cmd = rbuf[0], b_len = rbuf[2];
    reg  [7:0] frame_err;        // framing error code, 0 if the frame is well formed
    always @(*) begin
        frame_err = 8'h00;
        if (f_overflow) frame_err = `ERR_BAD_LENGTH;
        else if (f_cobs_err) frame_err = `ERR_BAD_FRAME;
        else if (f_len < 6'd5) frame_err = `ERR_BAD_LENGTH;
        else if (!f_crc_ok) frame_err = `ERR_BAD_CRC;
        else if ({2'b00, b_len} != {4'd0, f_len} - 10'd5) frame_err = `ERR_BAD_LENGTH;
    end
    reg       known;
    reg [7:0] req_len;
    always @(*) begin
        known = 1'b1; req_len = 8'd0;
        case (b_cmd)
            `CMD_PING:          req_len = `REQ_LEN_PING;
            `CMD_SET_DAC:       req_len = `REQ_LEN_SET_DAC;
            `CMD_GET_DAC:       req_len = `REQ_LEN_GET_DAC;
            `CMD_SET_LIMITS:    req_len = `REQ_LEN_SET_LIMITS;
            `CMD_GET_LIMITS:    req_len = `REQ_LEN_GET_LIMITS;
            `CMD_GET_STATUS:    req_len = `REQ_LEN_GET_STATUS;
            `CMD_GET_TRIGGER:   req_len = `REQ_LEN_GET_TRIGGER;
            `CMD_RESUME:        req_len = `REQ_LEN_RESUME;
            `CMD_SET_THRESHOLD: req_len = `REQ_LEN_SET_THRESHOLD;
            `CMD_SET_SHIFTS:    req_len = `REQ_LEN_SET_SHIFTS;
            default:            known = 1'b0;
        endcase
    end
    wire [31:0] a32_0 = {rbuf[4], rbuf[5], rbuf[6], rbuf[7]};
    wire [31:0] a32_1 = {rbuf[8], rbuf[9], rbuf[10], rbuf[11]};
    wire [31:0] a32_2 = {rbuf[12], rbuf[13], rbuf[14], rbuf[15]};
    wire [7:0]  a_ch = rbuf[3];
    wire        a_ch_ok = (a_ch < NCH8);
    wire [CHW-1:0] a_ci = a_ch[CHW-1:0];
    wire [31:0] rd_tgt = {{(32-DW){1'b0}}, dac_target[a_ci*DW +: DW]};
    wire [31:0] rd_out = {{(32-DW){1'b0}}, dac_out[a_ci*DW +: DW]};
    wire [31:0] rd_min = lim_min[a_ci*32 +: 32];
    wire [31:0] rd_max = lim_max[a_ci*32 +: 32];
    wire [31:0] rd_stp = lim_step[a_ci*32 +: 32];

    // ---------------------------------------------------------------- execute + respond
    localparam [2:0] P_IDLE = 3'd0, P_DAC = 3'd1, P_CRC = 3'd2, E_SCAN = 3'd3, E_CODE = 3'd4,
                     E_DATA = 3'd5, E_DELIM = 3'd6, P_EXEC = 3'd7;
    reg [2:0]  state;
    reg [7:0]  cmd_r, seq_r, len_r;
    reg [8*MAXD-1:0] rsp_d;      // data, right-aligned: data byte i at [8*(len_r-1-i) +: 8]
    reg [15:0] crc_tx;
    reg [6:0]  k, i0, j0;        // byte indices into the response payload
    reg [7:0]  code;
    wire [6:0] n_body = {1'b0, len_r[5:0]} + 7'd3;    // bytes before the CRC
    wire [6:0] n_all = n_body + 7'd2;
    wire [6:0] tb_idx = (state == E_SCAN) ? j0 : k;
    // timing (ECP5): the payload byte at tb_idx is fetched in two registered steps (which field
    // and the data offset, then the byte: tb_q) and the response states act only when the
    // fetch has settled (settle == 0, two cycles after their last action), so tb_q always
    // belongs to the present index and contents: one byte per 3 cycles, far faster than the UART
    reg  [2:0] tb_cls;             // 0 cmd, 1 seq, 2 len, 3 data, 4 CRC high, 5 CRC low
    reg  [6:0] tb_off;             // data byte offset from the right of rsp_d
    reg  [7:0] tb_q;
    reg  [1:0] settle;
    reg  [6:0] n_body_q, n_all_q;  // n_body, n_all one cycle later (len_r settles with the FSM)
    always @(posedge clk) begin
        tb_cls <= (tb_idx == 7'd0) ? 3'd0 : (tb_idx == 7'd1) ? 3'd1 : (tb_idx == 7'd2) ? 3'd2
                : (tb_idx < n_body) ? 3'd3 : (tb_idx == n_body) ? 3'd4 : 3'd5;
        tb_off <= {1'b0, len_r[5:0]} + 7'd2 - tb_idx;
        case (tb_cls)
            3'd0: tb_q <= cmd_r;
            3'd1: tb_q <= seq_r;
            3'd2: tb_q <= len_r;
            3'd3: tb_q <= rsp_d[8*tb_off +: 8];
            3'd4: tb_q <= crc_tx[15:8];
            default: tb_q <= crc_tx[7:0];
        endcase
        n_body_q <= n_body; n_all_q <= n_all;
    end
    wire [15:0] crc_tx_next;
    crc16_update u_crc_tx (.crc_in(crc_tx), .data(tb_q), .crc_out(crc_tx_next));
    // timing (ECP5): P_IDLE registers the frame checks and the read-back values (d_*), P_EXEC
    // acts on them; the frame is taken (rbuf free for the next one) in P_EXEC
    assign frame_take = (state == P_EXEC);
    reg  [7:0]  d_frame_err;
    reg         d_known, d_len_ok, d_ch_ok;
    reg  [31:0] d_tgt, d_out, d_min, d_max, d_stp;
    always @(posedge clk) begin
        d_frame_err <= frame_err; d_known <= known; d_len_ok <= (b_len == req_len); d_ch_ok <= a_ch_ok;
        d_tgt <= rd_tgt; d_out <= rd_out; d_min <= rd_min; d_max <= rd_max; d_stp <= rd_stp;
    end

    localparam integer PADB = 8 * MAXD;
    task respond_error(input [7:0] ecode, input [7:0] ecmd);
        begin
            cmd_r <= `PROTO_ERROR_CMD; len_r <= 8'd2;
            rsp_d <= {{(PADB-16){1'b0}}, ecode, ecmd};
        end
    endtask

    always @(posedge clk) begin
        if (rst) begin
            state <= P_IDLE; cmd_r <= 8'd0; seq_r <= 8'd0; len_r <= 8'd0; rsp_d <= {PADB{1'b0}};
            crc_tx <= 16'hFFFF; k <= 7'd0; i0 <= 7'd0; j0 <= 7'd0; code <= 8'd0; settle <= 2'd2;
            u_data <= 8'd0; u_valid <= 1'b0; hb_pulse <= 1'b0; resume_pulse <= 1'b0; ev_pop <= 1'b0;
            dac_req_valid <= 1'b0; dac_req_op <= 1'b0; dac_req_ch <= 8'd0; dac_req_value <= 32'd0;
            dac_req_min <= 32'd0; dac_req_max <= 32'd0; dac_req_step <= 32'd0;
            threshold <= 32'd0; shift <= SHIFT_RESET[4:0]; dshift <= DSHIFT_RESET[4:0];
            cnt_rx_ok <= 32'd0; cnt_crc_err <= 32'd0; cnt_len_err <= 32'd0; cnt_unknown <= 32'd0;
            cnt_refused <= 32'd0;
        end else begin
            u_valid <= 1'b0; hb_pulse <= 1'b0; resume_pulse <= 1'b0; ev_pop <= 1'b0;
            dac_req_valid <= 1'b0;
            if (settle != 2'd0) settle <= settle - 2'd1;
            if (overrun || rx_ferr) cnt_len_err <= cnt_len_err + 1'b1;  // rx overrun / UART framing
            case (state)
                P_IDLE: if (frame_ready) state <= P_EXEC;
                P_EXEC: begin
                    settle <= 2'd2;
                    seq_r <= (f_len >= 6'd2) ? rbuf[1] : 8'd0;
                    crc_tx <= 16'hFFFF; k <= 7'd0;
                    state <= P_CRC;
                    cmd_r <= b_cmd | `PROTO_RSP_FLAG;
                    if (d_frame_err != 8'h00) begin
                        respond_error(d_frame_err, (f_len >= 6'd1) ? b_cmd : 8'h00);
                        if (d_frame_err == `ERR_BAD_CRC) cnt_crc_err <= cnt_crc_err + 1'b1;
                        else cnt_len_err <= cnt_len_err + 1'b1;
                    end else if (!d_known) begin
                        respond_error(`ERR_UNKNOWN_CMD, b_cmd);
                        cnt_unknown <= cnt_unknown + 1'b1;
                    end else if (!d_len_ok) begin
                        respond_error(`ERR_BAD_LENGTH, b_cmd);
                        cnt_len_err <= cnt_len_err + 1'b1;
                    end else begin
                        cnt_rx_ok <= cnt_rx_ok + 1'b1;
                        case (b_cmd)
                            `CMD_PING: begin
                                hb_pulse <= 1'b1; len_r <= `RSP_LEN_PING;
                                rsp_d <= {{(PADB-32){1'b0}}, `PROTO_VERSION, NCH[7:0], DW[7:0], NET_PLACEHOLDER[7:0]};
                            end
                            `CMD_SET_DAC, `CMD_SET_LIMITS: begin
                                dac_req_valid <= 1'b1;
                                dac_req_op <= (b_cmd == `CMD_SET_LIMITS);
                                dac_req_ch <= a_ch; dac_req_value <= a32_0;
                                dac_req_min <= a32_0; dac_req_max <= a32_1; dac_req_step <= a32_2;
                                state <= P_DAC;
                            end
                            `CMD_GET_DAC: if (!d_ch_ok) begin
                                respond_error(`ERR_BAD_CHANNEL, b_cmd); cnt_refused <= cnt_refused + 1'b1;
                            end else begin
                                len_r <= `RSP_LEN_GET_DAC;
                                rsp_d <= {{(PADB-72){1'b0}}, a_ch, d_tgt, d_out};
                            end
                            `CMD_GET_LIMITS: if (!d_ch_ok) begin
                                respond_error(`ERR_BAD_CHANNEL, b_cmd); cnt_refused <= cnt_refused + 1'b1;
                            end else begin
                                len_r <= `RSP_LEN_GET_LIMITS;
                                rsp_d <= {{(PADB-104){1'b0}}, a_ch, d_min, d_max, d_stp};
                            end
                            `CMD_GET_STATUS: begin
                                len_r <= `RSP_LEN_GET_STATUS;
                                rsp_d <= {{(PADB-320){1'b0}}, st_flags, st_frames, st_ingest_errors,
                                          cnt_rx_ok, cnt_crc_err, cnt_len_err, cnt_unknown, cnt_refused,
                                          st_triggers, st_wd_trips};
                            end
                            `CMD_GET_TRIGGER: begin
                                len_r <= `RSP_LEN_GET_TRIGGER;
                                ev_pop <= ev_valid;
                                rsp_d <= {{(PADB-112){1'b0}}, ev_valid ? ev_count - 8'd1 : 8'd0,
                                          7'd0, ev_valid, ev_valid ? ev_data : 96'd0};
                            end
                            `CMD_RESUME: begin
                                resume_pulse <= 1'b1; len_r <= `RSP_LEN_RESUME;
                                rsp_d <= {{(PADB-32){1'b0}}, st_flags & ~(32'd1 << `FLAG_WD_TRIPPED)};
                            end
                            `CMD_SET_SHIFTS: if (rbuf[3] > 8'd31 || rbuf[4] > 8'd31) begin
                                respond_error(`ERR_BAD_VALUE, b_cmd); cnt_refused <= cnt_refused + 1'b1;
                            end else begin
                                shift <= rbuf[3][4:0]; dshift <= rbuf[4][4:0];
                                len_r <= `RSP_LEN_SET_SHIFTS;
                                rsp_d <= {{(PADB-16){1'b0}}, rbuf[3], rbuf[4]};
                            end
                            default: begin  // CMD_SET_THRESHOLD
                                threshold <= {rbuf[3], rbuf[4], rbuf[5], rbuf[6]};
                                len_r <= `RSP_LEN_SET_THRESHOLD;
                                rsp_d <= {{(PADB-32){1'b0}}, rbuf[3], rbuf[4], rbuf[5], rbuf[6]};
                            end
                        endcase
                    end
                end
                P_DAC: if (dac_rsp_valid) begin
                    state <= P_CRC; settle <= 2'd2;
                    if (dac_rsp_err != 8'h00) begin
                        respond_error(dac_rsp_err, cmd_r & ~`PROTO_RSP_FLAG);
                        cnt_refused <= cnt_refused + 1'b1;
                    end else if (!dac_req_op) begin
                        len_r <= `RSP_LEN_SET_DAC;
                        rsp_d <= {{(PADB-40){1'b0}}, dac_req_ch, dac_req_value};
                    end else begin
                        len_r <= `RSP_LEN_SET_LIMITS;
                        rsp_d <= {{(PADB-104){1'b0}}, dac_req_ch, dac_req_min, dac_req_max, dac_req_step};
                    end
                end
                P_CRC: if (settle == 2'd0) begin
                    settle <= 2'd2;
                    if (k == n_body_q) begin
                        state <= E_SCAN; i0 <= 7'd0; j0 <= 7'd0;
                    end else begin
                        crc_tx <= crc_tx_next; k <= k + 1'b1;
                    end
                end
                E_SCAN: if (settle == 2'd0) begin    // find the next zero (or the end) from i0
                    settle <= 2'd2;
                    if (j0 < n_all_q && tb_q != 8'h00) j0 <= j0 + 1'b1;
                    else begin code <= {1'b0, j0 - i0} + 8'd1; state <= E_CODE; end
                end
                E_CODE: if (u_ready && !u_valid) begin
                    settle <= 2'd2;
                    u_data <= code; u_valid <= 1'b1; k <= i0; state <= E_DATA;
                end
                E_DATA: if (settle == 2'd0) begin
                    if (k == j0) begin
                        settle <= 2'd2;
                        if (j0 == n_all_q) state <= E_DELIM;
                        else begin i0 <= j0 + 1'b1; j0 <= j0 + 1'b1; state <= E_SCAN; end
                    end else if (u_ready && !u_valid) begin
                        settle <= 2'd2;
                        u_data <= tb_q; u_valid <= 1'b1; k <= k + 1'b1;
                    end
                end
                default: if (u_ready && !u_valid) begin   // E_DELIM
                    u_data <= 8'h00; u_valid <= 1'b1; state <= P_IDLE;
                end
            endcase
        end
    end
endmodule
`default_nettype wire
