"""Rendering audio with FluidSynth: the engine, the demo genre corpus, the melody."""
