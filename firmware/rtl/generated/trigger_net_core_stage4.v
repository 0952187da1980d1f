`timescale 1 ns / 1 ps

module trigger_net_core_stage4 (
    input [386:0] model_inp,
    output [138:0] model_out
);

    // verilator lint_off UNUSEDSIGNAL
    // Explicit quantization operation will drop bits if exists

    wire [15:0] v0; assign v0[15:0] = model_inp[15:0];
    wire [8:0] v1; assign v1[8:0] = model_inp[24:16];
    wire [15:0] v2; shift_adder #(16, 9, 1, 1, 16, 2, 1) op_2 (v0[15:0], v1[8:0], v2[15:0]);
    wire [15:0] v3; assign v3[15:0] = model_inp[40:25];
    wire [9:0] v4; assign v4[9:0] = model_inp[50:41];
    wire [16:0] v5; shift_adder #(16, 10, 1, 0, 17, 5, 1) op_5 (v3[15:0], v4[9:0], v5[16:0]);
    wire [10:0] v6; assign v6[10:0] = model_inp[61:51];
    wire [12:0] v7; shift_adder #(11, 11, 0, 0, 13, -2, 0) op_7 (v6[10:0], v6[10:0], v7[12:0]);
    wire [15:0] v8; assign v8[15:0] = model_inp[77:62];
    wire [15:0] v9; assign v9[15:0] = model_inp[93:78];
    wire [16:0] v10; shift_adder #(16, 16, 1, 1, 17, 0, 0) op_10 (v8[15:0], v9[15:0], v10[16:0]);
    wire [10:0] v11; assign v11[10:0] = model_inp[104:94];
    wire [9:0] v12; assign v12[9:0] = model_inp[114:105];
    wire [14:0] v13; shift_adder #(11, 10, 0, 1, 15, -3, 0) op_13 (v11[10:0], v12[9:0], v13[14:0]);
    wire [11:0] v14; assign v14[11:0] = model_inp[126:115];
    wire [16:0] v15; assign v15[16:0] = model_inp[143:127];
    wire [16:0] v16; shift_adder #(12, 17, 1, 1, 17, 0, 0) op_16 (v14[11:0], v15[16:0], v16[16:0]);
    wire [9:0] v17; assign v17[9:0] = model_inp[153:144];
    wire [14:0] v18; assign v18[14:0] = model_inp[168:154];
    wire [14:0] v19; shift_adder #(10, 15, 1, 1, 15, 0, 1) op_19 (v17[9:0], v18[14:0], v19[14:0]);
    wire [7:0] v20; assign v20[7:0] = model_inp[176:169];
    wire [12:0] v21; shift_adder #(8, 12, 0, 1, 13, -1, 0) op_21 (v20[7:0], v14[11:0], v21[12:0]);
    wire [14:0] v22; assign v22[14:0] = model_inp[191:177];
    wire [14:0] v23; shift_adder #(10, 15, 1, 1, 15, -2, 0) op_23 (v17[9:0], v22[14:0], v23[14:0]);
    wire [10:0] v24; assign v24[10:0] = model_inp[202:192];
    wire [14:0] v25; assign v25[14:0] = model_inp[217:203];
    wire [15:0] v26; shift_adder #(11, 15, 1, 0, 16, 0, 1) op_26 (v24[10:0], v25[14:0], v26[15:0]);
    wire [15:0] v27; assign v27[15:0] = model_inp[233:218];
    wire [10:0] v28; assign v28[10:0] = model_inp[244:234];
    wire [16:0] v29; shift_adder #(16, 11, 1, 0, 17, 2, 1) op_29 (v27[15:0], v28[10:0], v29[16:0]);
    wire [14:0] v30; assign v30[14:0] = model_inp[259:245];
    wire [14:0] v31; assign v31[14:0] = model_inp[274:260];
    wire [15:0] v32; shift_adder #(15, 15, 1, 1, 16, -1, 0) op_32 (v30[14:0], v31[14:0], v32[15:0]);
    wire [10:0] v33; assign v33[10:0] = model_inp[285:275];
    wire [12:0] v34; assign v34[12:0] = model_inp[298:286];
    wire [13:0] v35; shift_adder #(11, 13, 0, 1, 14, -1, 0) op_35 (v33[10:0], v34[12:0], v35[13:0]);
    wire [15:0] v36; assign v36[15:0] = model_inp[314:299];
    wire [15:0] v37; shift_adder #(16, 11, 1, 0, 16, 3, 1) op_37 (v36[15:0], v28[10:0], v37[15:0]);
    wire [15:0] v38; shift_adder #(9, 15, 1, 1, 16, -5, 0) op_38 (v1[8:0], v31[14:0], v38[15:0]);
    wire [7:0] v39; assign v39[7:0] = model_inp[322:315];
    wire [10:0] v40; shift_adder #(8, 9, 0, 1, 11, -1, 0) op_40 (v39[7:0], v1[8:0], v40[10:0]);
    wire [14:0] v41; assign v41[14:0] = model_inp[337:323];
    wire [15:0] v42; assign v42[15:0] = model_inp[353:338];
    wire [15:0] v43; shift_adder #(15, 16, 1, 1, 16, 0, 0) op_43 (v41[14:0], v42[15:0], v43[15:0]);
    wire [15:0] v44; assign v44[15:0] = model_inp[369:354];
    wire [15:0] v45; shift_adder #(16, 9, 1, 1, 16, 4, 0) op_45 (v44[15:0], v1[8:0], v45[15:0]);
    wire [17:0] v46; shift_adder #(16, 17, 1, 1, 18, 0, 0) op_46 (v2[15:0], v5[16:0], v46[17:0]);
    wire [16:0] v47; shift_adder #(17, 15, 1, 1, 17, 1, 1) op_47 (v10[16:0], v13[14:0], v47[16:0]);
    wire [14:0] v48; shift_adder #(15, 13, 1, 1, 15, 2, 0) op_48 (v19[14:0], v21[12:0], v48[14:0]);
    wire [15:0] v49; shift_adder #(15, 11, 1, 1, 16, 4, 1) op_49 (v23[14:0], v24[10:0], v49[15:0]);
    wire [15:0] v50; shift_adder #(13, 16, 1, 1, 16, -2, 0) op_50 (v21[12:0], v26[15:0], v50[15:0]);
    wire [16:0] v51; shift_adder #(17, 5, 1, 0, 17, 0, 1) op_51 (v47[16:0], 5'b11011, v51[16:0]);
    wire [15:0] v52; assign v52[15:0] = v51[15:0] & {16{~v51[16]}};
    wire [9:0] v53; assign v53[9:0] = v52[15:6];
    wire [9:0] v54; shift_adder #(10, 8, 0, 0, 10, 0, 1) op_54 (v53[9:0], 8'b11111111, v54[9:0]);
    wire [16:0] v55; shift_adder #(17, 11, 1, 0, 17, 4, 1) op_55 (v29[16:0], v33[10:0], v55[16:0]);
    wire [16:0] v56; shift_adder #(16, 14, 1, 1, 17, 0, 0) op_56 (v32[15:0], v35[13:0], v56[16:0]);
    wire [16:0] v57; shift_adder #(16, 16, 1, 1, 17, 0, 0) op_57 (v37[15:0], v38[15:0], v57[16:0]);
    wire [8:0] v58; assign v58[8:0] = model_inp[378:370];
    wire [12:0] v59; shift_adder #(9, 11, 1, 1, 13, -3, 1) op_59 (v58[8:0], v40[10:0], v59[12:0]);
    wire [15:0] v60; shift_adder #(16, 14, 1, 1, 16, 0, 1) op_60 (v43[15:0], v35[13:0], v60[15:0]);
    wire [17:0] v61; shift_adder #(18, 13, 1, 0, 18, 1, 1) op_61 (v46[17:0], v7[12:0], v61[17:0]);
    wire [16:0] v62; shift_adder #(17, 15, 1, 1, 17, 1, 0) op_62 (v16[16:0], v48[14:0], v62[16:0]);
    wire [16:0] v63; shift_adder #(16, 16, 1, 1, 17, 0, 0) op_63 (v49[15:0], v50[15:0], v63[16:0]);
    wire [16:0] v64; shift_adder #(17, 4, 1, 0, 17, 0, 0) op_64 (v63[16:0], 4'b1000, v64[16:0]);
    wire [14:0] v65; assign v65[14:0] = v64[14:0] & {15{~v64[16]}};
    wire [8:0] v66; assign v66[8:0] = v65[14:6];
    wire [8:0] v67; shift_adder #(9, 8, 0, 0, 9, 0, 1) op_67 (v66[8:0], 8'b11111111, v67[8:0]);
    wire [7:0] v68; assign v68[7:0] = 'b11111111;
    wire [7:0] v69; mux #(10, 8, 0, 0, 8, 0, 0) op_69 (v54[9], v53[9:0], v68[7:0], v69[7:0]);
    wire [17:0] v70; shift_adder #(17, 17, 1, 1, 18, 0, 1) op_70 (v55[16:0], v56[16:0], v70[17:0]);
    wire [7:0] v71; assign v71[7:0] = model_inp[386:379];
    wire [12:0] v72; shift_adder #(8, 13, 0, 1, 13, 0, 0) op_72 (v71[7:0], v59[12:0], v72[12:0]);
    wire [16:0] v73; shift_adder #(16, 16, 1, 1, 17, 0, 1) op_73 (v60[15:0], v45[15:0], v73[16:0]);
    wire [17:0] v74; shift_adder #(18, 17, 1, 1, 18, 0, 1) op_74 (v61[17:0], v47[16:0], v74[17:0]);
    wire [17:0] v75; shift_adder #(18, 5, 1, 0, 18, 0, 1) op_75 (v74[17:0], 5'b11110, v75[17:0]);
    wire [16:0] v76; assign v76[16:0] = v75[16:0] & {17{~v75[17]}};
    wire [10:0] v77; assign v77[10:0] = v76[16:6];
    wire [10:0] v78; shift_adder #(11, 8, 0, 0, 11, 0, 1) op_78 (v77[10:0], 8'b11111111, v78[10:0]);
    wire [17:0] v79; shift_adder #(17, 17, 1, 1, 18, 0, 1) op_79 (v62[16:0], v47[16:0], v79[17:0]);
    wire [17:0] v80; shift_adder #(18, 3, 1, 0, 18, 0, 0) op_80 (v79[17:0], 3'b110, v80[17:0]);
    wire [16:0] v81; assign v81[16:0] = v80[16:0] & {17{~v80[17]}};
    wire [10:0] v82; assign v82[10:0] = v81[16:6];
    wire [11:0] v83; shift_adder #(11, 8, 0, 0, 12, 0, 1) op_83 (v82[10:0], 8'b11111111, v83[11:0]);
    wire [7:0] v84; assign v84[7:0] = 'b11111111;
    wire [7:0] v85; mux #(9, 8, 0, 0, 8, 0, 0) op_85 (v67[8], v66[8:0], v84[7:0], v85[7:0]);
    wire [12:0] v86; shift_adder #(8, 8, 0, 0, 13, -4, 0) op_86 (v69[7:0], v69[7:0], v86[12:0]);
    wire [17:0] v87; shift_adder #(18, 17, 1, 1, 18, 0, 1) op_87 (v70[17:0], v47[16:0], v87[17:0]);
    wire [17:0] v88; shift_adder #(18, 6, 1, 0, 18, 0, 1) op_88 (v87[17:0], 6'b110001, v88[17:0]);
    wire [15:0] v89; assign v89[15:0] = v88[15:0] & {16{~v88[17]}};
    wire [9:0] v90; assign v90[9:0] = v89[15:6];
    wire [10:0] v91; shift_adder #(10, 8, 0, 0, 11, 0, 1) op_91 (v90[9:0], 8'b11111111, v91[10:0]);
    wire [16:0] v92; shift_adder #(17, 13, 1, 1, 17, 2, 0) op_92 (v57[16:0], v72[12:0], v92[16:0]);
    wire [17:0] v93; shift_adder #(17, 17, 1, 1, 18, 0, 0) op_93 (v73[16:0], v63[16:0], v93[17:0]);
    wire [17:0] v94; shift_adder #(18, 6, 1, 0, 18, 0, 1) op_94 (v93[17:0], 6'b101001, v94[17:0]);
    wire [16:0] v95; assign v95[16:0] = v94[16:0] & {17{~v94[17]}};
    wire [10:0] v96; assign v96[10:0] = v95[16:6];
    wire [10:0] v97; shift_adder #(11, 8, 0, 0, 11, 0, 1) op_97 (v96[10:0], 8'b11111111, v97[10:0]);

    // verilator lint_on UNUSEDSIGNAL

    assign model_out[10:0] = v77[10:0];
    assign model_out[21:11] = v78[10:0];
    assign model_out[32:22] = v82[10:0];
    assign model_out[44:33] = v83[11:0];
    assign model_out[52:45] = v85[7:0];
    assign model_out[65:53] = v86[12:0];
    assign model_out[75:66] = v90[9:0];
    assign model_out[86:76] = v91[10:0];
    assign model_out[103:87] = v92[16:0];
    assign model_out[116:104] = v72[12:0];
    assign model_out[127:117] = v96[10:0];
    assign model_out[138:128] = v97[10:0];

endmodule
