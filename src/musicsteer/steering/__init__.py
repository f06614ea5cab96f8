"""Steering: the hook, vectors, the grid, generation and routes."""
