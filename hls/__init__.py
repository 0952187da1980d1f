"""beamloop.hls"""
