"""beamloop.firmware"""
