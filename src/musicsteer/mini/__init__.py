"""musicsteer-mini (#9, in progress): small trained models of the real classes, made here.

So far: the audio judge that the quality gates use (:mod:`musicsteer.mini.judge`) and
the training corpus with its held-out tracks (:mod:`musicsteer.mini.corpus`).
"""
