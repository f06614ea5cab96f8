"""musicsteer-mini: small trained models of the real classes, made here on rendered music.

``make mini`` (``snakemake mini_models``, :mod:`musicsteer.mini.build` stage by stage)
renders the training corpus (:mod:`~musicsteer.mini.corpus`, split by track), trains
the codec (:mod:`~musicsteer.mini.codec`, ``EncodecModel``), encodes every track once,
trains the decoder (:mod:`~musicsteer.mini.lm`, ``MusicgenForConditionalGeneration``
or the Melody class) and CLAP on decoded audio (:mod:`~musicsteer.mini.clap`,
``ClapModel``), measures the quality gates (:mod:`~musicsteer.mini.gates`, with the
audio :mod:`~musicsteer.mini.judge`) and writes the manifest
(:mod:`~musicsteer.mini.release`), which installs them as the ``mini-*`` built-ins.
"""
