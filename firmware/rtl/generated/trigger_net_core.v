`timescale 1 ns / 1 ps

module trigger_net_core (
    input clk,
    input [255:0] model_inp,
    output reg [17:0] model_out
);

    reg [255:0] stage0_inp;
    reg [1487:0] stage1_inp;
    reg [127:0] stage2_inp;
    reg [362:0] stage3_inp;
    reg [66:0] stage4_inp;
    wire [1487:0] stage0_out;
    wire [127:0] stage1_out;
    wire [362:0] stage2_out;
    wire [66:0] stage3_out;
    wire [17:0] stage4_out;

    trigger_net_core_stage0 stage0 (.model_inp(stage0_inp), .model_out(stage0_out));
    trigger_net_core_stage1 stage1 (.model_inp(stage1_inp), .model_out(stage1_out));
    trigger_net_core_stage2 stage2 (.model_inp(stage2_inp), .model_out(stage2_out));
    trigger_net_core_stage3 stage3 (.model_inp(stage3_inp), .model_out(stage3_out));
    trigger_net_core_stage4 stage4 (.model_inp(stage4_inp), .model_out(stage4_out));

    always @(posedge clk) begin
        stage0_inp <= model_inp;
        stage1_inp <= stage0_out;
        stage2_inp <= stage1_out;
        stage3_inp <= stage2_out;
        stage4_inp <= stage3_out;
        model_out <= stage4_out;
    end
endmodule
