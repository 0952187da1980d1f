`timescale 1 ns / 1 ps

module trigger_net_core (
    input clk,
    input [255:0] model_inp,
    output reg [16:0] model_out
);

    reg [255:0] stage0_inp;
    reg [1030:0] stage1_inp;
    reg [289:0] stage2_inp;
    reg [358:0] stage3_inp;
    reg [386:0] stage4_inp;
    reg [138:0] stage5_inp;
    reg [42:0] stage6_inp;
    wire [1030:0] stage0_out;
    wire [289:0] stage1_out;
    wire [358:0] stage2_out;
    wire [386:0] stage3_out;
    wire [138:0] stage4_out;
    wire [42:0] stage5_out;
    wire [16:0] stage6_out;

    trigger_net_core_stage0 stage0 (.model_inp(stage0_inp), .model_out(stage0_out));
    trigger_net_core_stage1 stage1 (.model_inp(stage1_inp), .model_out(stage1_out));
    trigger_net_core_stage2 stage2 (.model_inp(stage2_inp), .model_out(stage2_out));
    trigger_net_core_stage3 stage3 (.model_inp(stage3_inp), .model_out(stage3_out));
    trigger_net_core_stage4 stage4 (.model_inp(stage4_inp), .model_out(stage4_out));
    trigger_net_core_stage5 stage5 (.model_inp(stage5_inp), .model_out(stage5_out));
    trigger_net_core_stage6 stage6 (.model_inp(stage6_inp), .model_out(stage6_out));

    always @(posedge clk) begin
        stage0_inp <= model_inp;
        stage1_inp <= stage0_out;
        stage2_inp <= stage1_out;
        stage3_inp <= stage2_out;
        stage4_inp <= stage3_out;
        stage5_inp <= stage4_out;
        stage6_inp <= stage5_out;
        model_out <= stage6_out;
    end
endmodule
