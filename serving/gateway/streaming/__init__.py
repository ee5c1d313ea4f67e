"""Streaming generation: the engine that drives a continuation chunk by chunk through the gateway's core (the
step protocol of handlers/generation_step.py), its limits and metrics, and the Server-Sent Events writer the
streaming front-ends share (docs/streaming.md)."""
