"""Tests of the simulated pump."""
