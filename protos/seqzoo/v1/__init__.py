"""Generated gRPC stubs for the seqzoo.v1 protocol (made by `make protos` from the .proto files here)."""
