"""Where clips come from: the genre corpora, their downloads, SynTheory, the clip store."""
