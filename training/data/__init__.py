"""Offline datasets: scikit-learn's bundled sets, Python's bundled docs, procedural images, local files."""
