// arty_a7_top: Digilent Arty A7-35T wrapper of beamloop_top. Pins, clock and I/O only.
//   CLK100MHZ -> clk; ck_rst (active low, synchronised) -> rst
//   USB-UART (FTDI): uart_txd_in -> command link RX, uart_rxd_out <- TX
//   Detector pixel bus (bench interface, synchronous to CLK100MHZ, registered in IOBs):
//     JB[7:0] = data[7:0], JC[7:0] = data[15:8], JD0 = valid, JD1 = start of frame (tuser),
//     JD2 = end of line (tlast), JD3 = ready (out), JD4 = trigger pulse (out)
//   DAC: AD5676-style octal SPI DAC on JA: JA0 = SYNC_n, JA1 = MOSI, JA3 = SCLK
//   LEDs: LD4 = watchdog tripped, LD5 = malformed frame seen, LD6 = trigger, LD7 = alive
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
    reg [2:0] rst_sync = 3'b111;
    always @(posedge clk) rst_sync <= {rst_sync[1:0], ~ck_rst};
    wire rst = rst_sync[2];

    (* IOB = "TRUE" *) reg [15:0] pix_d;
    (* IOB = "TRUE" *) reg pix_v, pix_sof, pix_eol;
    always @(posedge clk) begin
        pix_d <= {jc, jb}; pix_v <= jd[0]; pix_sof <= jd[1]; pix_eol <= jd[2];
    end

    wire tready, trig, wd_tripped, ingest_error;
    wire [8*16-1:0] dac_out;
    beamloop_top #(.MAP_FILE("region_map_64x64.hex"), .OUT_W(NET_OUT_W)) u_core (
        .clk(clk), .rst(rst),
        .s_axis_tdata(pix_d), .s_axis_tvalid(pix_v), .s_axis_tready(tready),
        .s_axis_tuser(pix_sof), .s_axis_tlast(pix_eol),
        .uart_rx(uart_txd_in), .uart_tx(uart_rxd_out),
        .dac_out(dac_out), .trig_pulse(trig), .wd_tripped(wd_tripped), .ingest_error(ingest_error));

    wire sclk, sync_n, mosi;
    wire [3:0] spi_ch;
    dac_spi #(.NCH(8), .DW(16), .SCLK_DIV(4)) u_spi (
        .clk(clk), .rst(rst), .values(dac_out), .sclk(sclk), .sync_n(sync_n), .mosi(mosi),
        .last_channel(spi_ch));
    assign ja = {4'b0000, sclk, 1'b0, mosi, sync_n};

    assign jd[3] = tready;
    assign jd[4] = trig;
    assign jd[7:5] = 3'bzzz;
    assign jd[2:0] = 3'bzzz;

    reg [23:0] trig_stretch = 24'd0;
    reg [26:0] alive = 27'd0;
    always @(posedge clk) begin
        trig_stretch <= trig ? 24'hFFFFFF : (trig_stretch != 0 ? trig_stretch - 1'b1 : 24'd0);
        alive <= alive + 1'b1;
    end
    assign led = {alive[26], trig_stretch != 24'd0, ingest_error, wd_tripped};
    wire unused = &{1'b0, spi_ch, 1'b0};
endmodule
`default_nettype wire
