"""beamloop.controller"""
