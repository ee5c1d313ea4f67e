"""Training recipes: one per family of models, each turning a spec and its data into a trained module."""
