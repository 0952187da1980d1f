"""beamloop.sim: the physics of the digital twin (imports nothing else of beamloop).

Modules: ``aberrations`` (Krivanek coefficients, chi, polar/abTEM converters), ``optics``
(wavelength, interaction constant), ``samples`` (projected potentials), ``ronchigram``
(wave-optical Ronchigrams), ``camera`` (noise, MTF), ``metrics`` (beam quality),
``detectors`` and ``stem`` (STEM imaging), ``gallery``, ``bench``; ``microscope`` (the twin).
See docs/sim.md and docs/conventions.md.
"""
