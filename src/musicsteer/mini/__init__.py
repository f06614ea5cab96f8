"""musicsteer-mini (#9, in progress): small trained models of the real classes, made here.

The parts so far, each tested on planted or rendered data: the audio judge the quality
gates use (:mod:`~musicsteer.mini.judge`), the training corpus split by track
(:mod:`~musicsteer.mini.corpus`), and trainers for the codec (:mod:`~musicsteer.mini.codec`,
``EncodecModel``), the decoder (:mod:`~musicsteer.mini.lm`,
``MusicgenForConditionalGeneration``) and CLAP (:mod:`~musicsteer.mini.clap`,
``ClapModel``). Not yet: the rules that run them end to end, the shipped checkpoints
and their gates.
"""
