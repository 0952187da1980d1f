// ulx3s_top: Radiona ULX3S (ECP5 LFE5U-85F) wrapper of beamloop_top. Pins, clock and I/O only.
//   clk_25mhz -> EHXPLLL -> 100 MHz design clock (CLKS_PER_BIT 868 = 115200 baud)
//   btn[0] (PWR, active low) and PLL lock -> synchronised reset
//   USB-UART (FTDI): ftdi_txd -> command link RX, ftdi_rxd <- TX
//   Detector pixel bus (bench interface, synchronous to the design clock, registered at the pins):
//     gp[7:0] = data[7:0], gn[7:0] = data[15:8], gp[8] = valid, gn[8] = start of frame (tuser),
//     gp[9] = end of line (tlast), gn[9] = ready (out), gp[10] = trigger pulse (out)
//   DAC: AD5676-style octal SPI DAC: gp[11] = SYNC_n, gn[11] = MOSI, gp[12] = SCLK
//   LEDs: led[0] = watchdog tripped, led[1] = malformed frame seen, led[2] = trigger, led[7] = alive
// Reset, pixel registers, core, SPI DAC and LEDs: boards/common/bench_board.v (shared with arty_a7_top).
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

    wire tready, trig, sclk, sync_n, mosi;
    bench_board #(.NET_OUT_W(NET_OUT_W), .SCLK_DIV(4)) u_board (
        .clk(clk), .rst_req(~(btn[0] & locked)),
        .pix_data({gn[7:0], gp[7:0]}), .pix_valid(gp[8]), .pix_sof(gn[8]), .pix_eol(gp[9]), .pix_ready(tready),
        .trig(trig), .uart_rx(ftdi_txd), .uart_tx(ftdi_rxd),
        .dac_sclk(sclk), .dac_sync_n(sync_n), .dac_mosi(mosi),
        .led_wd(led[0]), .led_ingest_error(led[1]), .led_trig(led[2]), .led_alive(led[7]));
    assign led[6:3] = 4'b0000;
    // drive only the output pins; input pins stay undriven (assigning 'z to a pin that is also
    // read made yosys treat the pixel bus as constant and remove the trigger path)
    assign gp[12:10] = {sclk, sync_n, trig};
    assign gn[11] = mosi;
    assign gn[9] = tready;
endmodule
`default_nettype wire
