// GENERATED from firmware/link_protocol.yaml by beamloop.firmware.link_protocol -- do not edit.
// Regenerate: python -m beamloop.firmware.link_protocol --write
`ifndef BEAMLOOP_CMD_DEFS_VH
`define BEAMLOOP_CMD_DEFS_VH
`define PROTO_VERSION 8'd1
`define PROTO_MAX_DATA 48
`define PROTO_RX_BUFFER 32
`define PROTO_RSP_FLAG 8'h80
`define PROTO_ERROR_CMD 8'hFF
`define CMD_PING 8'h01
`define REQ_LEN_PING 8'd0
`define RSP_LEN_PING 8'd4
`define CMD_SET_DAC 8'h02
`define REQ_LEN_SET_DAC 8'd5
`define RSP_LEN_SET_DAC 8'd5
`define CMD_GET_DAC 8'h03
`define REQ_LEN_GET_DAC 8'd1
`define RSP_LEN_GET_DAC 8'd9
`define CMD_SET_LIMITS 8'h04
`define REQ_LEN_SET_LIMITS 8'd13
`define RSP_LEN_SET_LIMITS 8'd13
`define CMD_GET_LIMITS 8'h05
`define REQ_LEN_GET_LIMITS 8'd1
`define RSP_LEN_GET_LIMITS 8'd13
`define CMD_GET_STATUS 8'h06
`define REQ_LEN_GET_STATUS 8'd0
`define RSP_LEN_GET_STATUS 8'd40
`define CMD_GET_TRIGGER 8'h07
`define REQ_LEN_GET_TRIGGER 8'd0
`define RSP_LEN_GET_TRIGGER 8'd14
`define CMD_RESUME 8'h08
`define REQ_LEN_RESUME 8'd0
`define RSP_LEN_RESUME 8'd4
`define CMD_SET_THRESHOLD 8'h09
`define REQ_LEN_SET_THRESHOLD 8'd4
`define RSP_LEN_SET_THRESHOLD 8'd4
`define CMD_SET_SHIFTS 8'h0A
`define REQ_LEN_SET_SHIFTS 8'd2
`define RSP_LEN_SET_SHIFTS 8'd2
`define ERR_BAD_CRC 8'h01
`define ERR_BAD_LENGTH 8'h02
`define ERR_BAD_FRAME 8'h03
`define ERR_UNKNOWN_CMD 8'h04
`define ERR_BAD_CHANNEL 8'h05
`define ERR_BELOW_MIN 8'h06
`define ERR_ABOVE_MAX 8'h07
`define ERR_STEP_TOO_LARGE 8'h08
`define ERR_WATCHDOG_HOLD 8'h09
`define ERR_BAD_LIMITS 8'h0A
`define ERR_BAD_VALUE 8'h0B
`define FLAG_WD_TRIPPED 0
`define FLAG_INGEST_ERROR 1
`define FLAG_RAMPING 2
`define FLAG_TRIG_OVERFLOW 3
`define FLAG_NET_PLACEHOLDER 4
`endif
