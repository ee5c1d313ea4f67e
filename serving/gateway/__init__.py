"""The gateway in front of TorchServe: v1 JSON and the Open Inference Protocol v2.

`core/` is the inference core, free of any protocol (the data plane, model kinds, admission, coalescing, the
TorchServe client, domain errors, the catalog); `frontends/` turn each wire format into the data plane's calls;
`observability/` holds request ids, metrics and logs; `app.py` composes them; `v2codec/` is the v2 tensor codec
that every v2 front-end shares.
"""
