"""seqzoo: CNNs for biological sequences, published as ONNX artifacts and served over gRPC.

The wings live in top-level folders and install as subpackages:
``seqzoo.zoo`` (zoo/), ``seqzoo.training`` (training/), ``seqzoo.serving`` (serving/)
and ``seqzoo.v1`` (the generated gRPC stubs in protos/seqzoo/v1/).

The Python API (``serving/api.py``), imported on first use so ``import seqzoo`` stays light::

    model = seqzoo.load("pum2:1", zoo="myzoo")              # or seqzoo.connect("host:port").load("pum2")
    model.predict(sequences); model.attribute(sequences); model.score_variants(vcf, genome)
"""

__version__ = "0.1.0"
__all__ = ["Model", "connect", "load"]


def __getattr__(name: str):
    if name in __all__:
        from seqzoo.serving import api

        return getattr(api, name)
    raise AttributeError(f"module 'seqzoo' has no attribute {name!r}")
