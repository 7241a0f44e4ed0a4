"""The gRPC server (``app``: ``seqzoo serve``) and what it is made of: the request context every service
gets (``calls``), admission and auth (``admission``), the dynamic batcher (``batcher``), the model store
(``store``), metrics (``telemetry``), memory (``memory``), worker processes (``workers``), error statuses
(``status``), the genome it holds (``reference``) and the services: seqzoo.v1 SeqZoo (``app``), Variants
(``variants_service``), Annotation (``annotation_service``), the Open Inference Protocol over gRPC
(``oip_grpc``) and HTTP (``oip_http``)."""
