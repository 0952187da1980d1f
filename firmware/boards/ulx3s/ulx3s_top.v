// ulx3s_top: Radiona ULX3S (ECP5 LFE5U-85F) wrapper of beamloop_top. Pins, clock and I/O only.
//   clk_25mhz -> EHXPLLL -> 100 MHz design clock (CLKS_PER_BIT 868 = 115200 baud)
//   btn[0] (PWR, active low) and PLL lock -> synchronised reset
//   USB-UART (FTDI): ftdi_txd -> command link RX, ftdi_rxd <- TX
//   Detector pixel bus (bench interface, synchronous to the design clock, registered at the pins):
//     gp[7:0] = data[7:0], gn[7:0] = data[15:8], gp[8] = valid, gn[8] = start of frame (tuser),
//     gp[9] = end of line (tlast), gn[9] = ready (out), gp[10] = trigger pulse (out)
//   DAC: AD5676-style octal SPI DAC: gp[11] = SYNC_n, gn[11] = MOSI, gp[12] = SCLK
//   LEDs: led[0] = watchdog tripped, led[1] = malformed frame seen, led[2] = trigger, led[7] = alive
// A real detector needs a fast link (e.g. the ULX3S's differential pairs or a SERDES board);
// only this file changes.
`default_nettype none
module ulx3s_top #(
    parameter integer NET_OUT_W = 16     // output width of the trigger network in use
) (
    input  wire        clk_25mhz,
    input  wire [0:0]  btn,
    input  wire        ftdi_txd,
    output wire        ftdi_rxd,
    inout  wire [12:0] gp,
    inout  wire [12:0] gn,
    output wire [7:0]  led,
    output wire        wifi_gpio0
);
    assign wifi_gpio0 = 1'b1;            // keep the ESP32 from resetting the board
    wire clk, locked;
    (* FREQUENCY_PIN_CLKI="25" *)
    (* FREQUENCY_PIN_CLKOP="100" *)
    (* ICP_CURRENT="12" *) (* LPF_RESISTOR="8" *) (* MFG_ENABLE_FILTEROPAMP="1" *) (* MFG_GMCREF_SEL="2" *)
    EHXPLLL #(  // yowasp-ecppll -i 25 -o 100
        .PLLRST_ENA("DISABLED"), .INTFB_WAKE("DISABLED"), .STDBY_ENABLE("DISABLED"),
        .DPHASE_SOURCE("DISABLED"), .OUTDIVIDER_MUXA("DIVA"), .OUTDIVIDER_MUXB("DIVB"),
        .OUTDIVIDER_MUXC("DIVC"), .OUTDIVIDER_MUXD("DIVD"), .CLKI_DIV(1), .CLKOP_ENABLE("ENABLED"),
        .CLKOP_DIV(6), .CLKOP_CPHASE(2), .CLKOP_FPHASE(0), .FEEDBK_PATH("CLKOP"), .CLKFB_DIV(4)
    ) u_pll (
        .RST(1'b0), .STDBY(1'b0), .CLKI(clk_25mhz), .CLKOP(clk), .CLKFB(clk), .CLKINTFB(),
        .PHASESEL0(1'b0), .PHASESEL1(1'b0), .PHASEDIR(1'b1), .PHASESTEP(1'b1), .PHASELOADREG(1'b1),
        .PLLWAKESYNC(1'b0), .ENCLKOP(1'b0), .LOCK(locked));

    reg [2:0] rst_sync = 3'b111;
    always @(posedge clk) rst_sync <= {rst_sync[1:0], ~(btn[0] & locked)};
    wire rst = rst_sync[2];

    reg [15:0] pix_d;
    reg pix_v, pix_sof, pix_eol;
    always @(posedge clk) begin
        pix_d <= {gn[7:0], gp[7:0]}; pix_v <= gp[8]; pix_sof <= gn[8]; pix_eol <= gp[9];
    end

    wire tready, trig, wd_tripped, ingest_error;
    wire [8*16-1:0] dac_out;
    beamloop_top #(.MAP_FILE("region_map_64x64.hex"), .OUT_W(NET_OUT_W)) u_core (
        .clk(clk), .rst(rst),
        .s_axis_tdata(pix_d), .s_axis_tvalid(pix_v), .s_axis_tready(tready),
        .s_axis_tuser(pix_sof), .s_axis_tlast(pix_eol),
        .uart_rx(ftdi_txd), .uart_tx(ftdi_rxd),
        .dac_out(dac_out), .trig_pulse(trig), .wd_tripped(wd_tripped), .ingest_error(ingest_error));

    wire sclk, sync_n, mosi;
    wire [3:0] spi_ch;
    dac_spi #(.NCH(8), .DW(16), .SCLK_DIV(4)) u_spi (
        .clk(clk), .rst(rst), .values(dac_out), .sclk(sclk), .sync_n(sync_n), .mosi(mosi),
        .last_channel(spi_ch));

    assign gp[12:9] = {sclk, sync_n, trig, 1'bz};
    assign gn[12:9] = {1'bz, mosi, 1'bz, tready};
    assign gp[8:0] = 9'bzzzzzzzzz;
    assign gn[8:0] = 9'bzzzzzzzzz;

    reg [23:0] trig_stretch = 24'd0;
    reg [26:0] alive = 27'd0;
    always @(posedge clk) begin
        trig_stretch <= trig ? 24'hFFFFFF : (trig_stretch != 0 ? trig_stretch - 1'b1 : 24'd0);
        alive <= alive + 1'b1;
    end
    assign led = {alive[26], 4'b0000, trig_stretch != 24'd0, ingest_error, wd_tripped};
    wire unused = &{1'b0, spi_ch, 1'b0};
endmodule
`default_nettype wire
