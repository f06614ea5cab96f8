"""Scoring steered audio: CLAP, the statistics and α rule, the paper's tables."""
