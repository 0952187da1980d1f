// bench_board: the board-independent half of the bench wrappers (arty_a7_top, ulx3s_top):
//   reset synchroniser, registered detector pixel bus, beamloop_top, the SPI DAC driver, LED drivers.
// A board wrapper keeps only its clock (buffer or PLL), pin names and pin directions.
//   rst_req   asynchronous reset request, active high (button, PLL not locked), synchronised here
//   pix_*     bench pixel bus, synchronous to clk, registered once (IOB registers on Xilinx)
//   dac_*     AD5676-style octal SPI DAC (dac_spi, SCLK = clk / (2 * SCLK_DIV))
//   led_*     watchdog tripped, malformed frame seen, trigger (stretched ~0.17 s at 100 MHz), alive
`default_nettype none
module bench_board #(
    parameter integer NET_OUT_W = 16,    // output width of the trigger network in use
    parameter integer SCLK_DIV = 4
) (
    input  wire        clk,
    input  wire        rst_req,
    input  wire [15:0] pix_data,
    input  wire        pix_valid,
    input  wire        pix_sof,
    input  wire        pix_eol,
    output wire        pix_ready,
    output wire        trig,
    input  wire        uart_rx,
    output wire        uart_tx,
    output wire        dac_sclk,
    output wire        dac_sync_n,
    output wire        dac_mosi,
    output wire        led_wd,
    output wire        led_ingest_error,
    output wire        led_trig,
    output wire        led_alive
);
    reg [2:0] rst_sync = 3'b111;
    always @(posedge clk) rst_sync <= {rst_sync[1:0], rst_req};
    wire rst = rst_sync[2];

    (* IOB = "TRUE" *) reg [15:0] pix_d;
    (* IOB = "TRUE" *) reg pix_v, pix_s, pix_e;
    always @(posedge clk) begin
        pix_d <= pix_data; pix_v <= pix_valid; pix_s <= pix_sof; pix_e <= pix_eol;
    end

    wire [8*16-1:0] dac_out;
    beamloop_top #(.MAP_FILE("region_map_64x64.hex"), .OUT_W(NET_OUT_W)) u_core (
        .clk(clk), .rst(rst),
        .s_axis_tdata(pix_d), .s_axis_tvalid(pix_v), .s_axis_tready(pix_ready),
        .s_axis_tuser(pix_s), .s_axis_tlast(pix_e),
        .uart_rx(uart_rx), .uart_tx(uart_tx),
        .dac_out(dac_out), .trig_pulse(trig), .wd_tripped(led_wd), .ingest_error(led_ingest_error));

    wire [3:0] spi_ch;
    dac_spi #(.NCH(8), .DW(16), .SCLK_DIV(SCLK_DIV)) u_spi (
        .clk(clk), .rst(rst), .values(dac_out), .sclk(dac_sclk), .sync_n(dac_sync_n), .mosi(dac_mosi),
        .last_channel(spi_ch));

    reg [23:0] trig_stretch = 24'd0;
    reg [26:0] alive = 27'd0;
    always @(posedge clk) begin
        trig_stretch <= trig ? 24'hFFFFFF : (trig_stretch != 0 ? trig_stretch - 1'b1 : 24'd0);
        alive <= alive + 1'b1;
    end
    assign led_trig = trig_stretch != 24'd0;
    assign led_alive = alive[26];
    wire unused = &{1'b0, spi_ch, 1'b0};
endmodule
`default_nettype wire
