"""seqzoo: CNNs for biological sequences, published as ONNX artifacts and served over gRPC.

The wings live in top-level folders and install as subpackages:
``seqzoo.zoo`` (zoo/), ``seqzoo.training`` (training/), ``seqzoo.serving`` (serving/)
and ``seqzoo.v1`` (the generated gRPC stubs in protos/seqzoo/v1/).
"""

__version__ = "0.1.0"
