"""beamloop.models"""
