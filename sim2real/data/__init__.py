"""Logged data: Minari datasets, collection, the .npz import, calibration (real-to-sim)."""
