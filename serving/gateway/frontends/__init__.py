"""The protocol front-ends: each turns its wire format into the data plane's calls and the answers back
(REST v1, REST v2 JSON and binary, health and metrics; OIP v2 over gRPC in grpc_v2/), and maps the core's
errors to its statuses once."""
