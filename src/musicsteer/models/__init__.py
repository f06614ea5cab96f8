"""Loading models, their offline twins, Melody's chroma, and where each site lives."""
