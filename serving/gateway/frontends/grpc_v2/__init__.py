"""The Open Inference Protocol v2 over gRPC (`inference.GRPCInferenceService`) and grpc.health.v1: protobuf in,
the codec's `InferRequest` through the core's data plane (`DataPlane.infer`; the stream engine for
ModelStreamInfer), protobuf out.

    inference.proto          the service, written from KServe's grpc_predict_v2.proto (`make proto` regenerates
                             inference_pb2.py/.pyi with regenerate.py)
    convert.py               ModelInferRequest → InferRequest (the codec's checks), Tensors → ModelInferResponse
    status.py                GatewayError classes → gRPC status codes, one table
    calls.py                 what every call goes through: parsing, the key, request ids, refusals, metrics
    service.py               the v2 service's seven calls and grpc.health.v1
    stream.py                ModelStreamInfer: Triton's decoupled streaming over the stream engine (TextStream)
    server.py                the grpc.aio server on GATEWAY_GRPC_PORT
"""
