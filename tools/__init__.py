"""beamloop.tools"""
