"""beamloop.sim"""
