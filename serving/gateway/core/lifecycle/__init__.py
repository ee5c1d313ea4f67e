"""Model lifecycle in the gateway: several versions per model, the traffic policy that picks one per request
(default, weighted canary, shadow), bounded outages, and draining a version before it is unregistered."""
