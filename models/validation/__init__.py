"""Validation on foreign physics (issue 12): Ronchigram pairs from simulators we did not write
(abTEM multislice, nionswift-usim) in the twin's camera geometry and pair protocol, and the
evaluation of any estimator on them next to the twin. Validation only, NEVER training data.

See docs/models.md "Foreign validation". Modules: :mod:`.common` (labels, camera, cache),
:mod:`.twin_pairs`, :mod:`.abtem_pairs`, :mod:`.usim_pairs`, :mod:`.evaluate`.
"""
