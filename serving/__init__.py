"""Applies models without PyTorch: ONNX Runtime engine, scoring, variant effects, gRPC server, client."""
