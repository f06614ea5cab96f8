"""musicsteer: probe and steer MusicGen's residual stream and attention outputs."""

__version__ = "0.1.0"
