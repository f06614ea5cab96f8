"""Where concepts live: clustering, probes, direction methods, layer choice, vectors."""
