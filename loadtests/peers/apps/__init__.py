"""The peers' servers, each run by its own venv's python with the repository on PYTHONPATH."""
