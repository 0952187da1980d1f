// watchdog: if no heartbeat arrives for TIMEOUT clock cycles, `tripped` rises and stays
// high (the DAC limiter then holds every output) until `rearm`. A heartbeat while tripped
// restarts the timer but does not clear the trip: only an explicit rearm (RESUME) does.
`default_nettype none
module watchdog #(
    parameter integer TIMEOUT = 100_000_000   // cycles (1 s at 100 MHz)
) (
    input  wire        clk,
    input  wire        rst,
    input  wire        heartbeat,
    input  wire        rearm,
    output reg         tripped,
    output reg  [31:0] trips
);
    localparam integer CW = $clog2(TIMEOUT + 1);
    reg [CW-1:0] cnt;
    always @(posedge clk) begin
        if (rst) begin
            cnt <= {CW{1'b0}}; tripped <= 1'b0; trips <= 32'd0;
        end else begin
            if (heartbeat || rearm) cnt <= {CW{1'b0}};
            else if (cnt != TIMEOUT[CW-1:0]) cnt <= cnt + 1'b1;
            if (rearm) tripped <= 1'b0;
            else if (!tripped && !heartbeat && cnt == TIMEOUT[CW-1:0] - 1'b1) begin
                tripped <= 1'b1;
                trips <= trips + 1'b1;
            end
        end
    end
endmodule
`default_nettype wire
