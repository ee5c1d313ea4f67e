"""The gateway's protocol front-ends: each converts its wire format to the inference step's request and back."""
