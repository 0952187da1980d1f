// arty_a7_top: Digilent Arty A7-35T wrapper of beamloop_top. Pins, clock and I/O only.
//   CLK100MHZ -> clk; ck_rst (active low, synchronised) -> rst
//   USB-UART (FTDI): uart_txd_in -> command link RX, uart_rxd_out <- TX
//   Detector pixel bus (bench interface, synchronous to CLK100MHZ, registered in IOBs):
//     JB[7:0] = data[7:0], JC[7:0] = data[15:8], JD0 = valid, JD1 = start of frame (tuser),
//     JD2 = end of line (tlast), JD3 = ready (out), JD4 = trigger pulse (out)
//   DAC: AD5676-style octal SPI DAC on JA: JA0 = SYNC_n, JA1 = MOSI, JA3 = SCLK
//   LEDs: LD4 = watchdog tripped, LD5 = malformed frame seen, LD6 = trigger, LD7 = alive
// Reset, pixel registers, core, SPI DAC and LEDs: boards/common/bench_board.v (shared with ulx3s_top).
// A real detector needs a board with a high-speed link (e.g. SFP on a Zynq board); the core
// (beamloop_top) does not change, only this file.
`default_nettype none
module arty_a7_top #(
    parameter integer NET_OUT_W = 16     // output width of the trigger network in use
) (
    input  wire       CLK100MHZ,
    input  wire       ck_rst,
    input  wire       uart_txd_in,
    output wire       uart_rxd_out,
    input  wire [7:0] jb,
    input  wire [7:0] jc,
    inout  wire [7:0] jd,
    output wire [7:0] ja,
    output wire [3:0] led
);
    wire clk = CLK100MHZ;
    wire tready, trig, sclk, sync_n, mosi;
    bench_board #(.NET_OUT_W(NET_OUT_W), .SCLK_DIV(4)) u_board (
        .clk(clk), .rst_req(~ck_rst),
        .pix_data({jc, jb}), .pix_valid(jd[0]), .pix_sof(jd[1]), .pix_eol(jd[2]), .pix_ready(tready), .trig(trig),
        .uart_rx(uart_txd_in), .uart_tx(uart_rxd_out),
        .dac_sclk(sclk), .dac_sync_n(sync_n), .dac_mosi(mosi),
        .led_wd(led[0]), .led_ingest_error(led[1]), .led_trig(led[2]), .led_alive(led[3]));
    assign ja = {4'b0000, sclk, 1'b0, mosi, sync_n};
    assign jd[3] = tready;
    assign jd[4] = trig;
    assign jd[7:5] = 3'bzzz;
    assign jd[2:0] = 3'bzzz;
endmodule
`default_nettype wire
