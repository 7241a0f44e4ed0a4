from seqzoo.v1 import seqzoo_pb2 as _seqzoo_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VariantCoordinates(_message.Message):
    __slots__ = ("chrom", "pos", "id", "ref", "alt")
    CHROM_FIELD_NUMBER: _ClassVar[int]
    POS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    ALT_FIELD_NUMBER: _ClassVar[int]
    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    def __init__(self, chrom: _Optional[str] = ..., pos: _Optional[int] = ..., id: _Optional[str] = ..., ref: _Optional[str] = ..., alt: _Optional[str] = ...) -> None: ...

class ScoreVariantsRequest(_message.Message):
    __slots__ = ("model", "ref_windows", "alt_windows", "variants", "strand", "max_n_fraction", "scores", "rc_average", "tracks")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REF_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    ALT_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    STRAND_FIELD_NUMBER: _ClassVar[int]
    MAX_N_FRACTION_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    RC_AVERAGE_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    model: str
    ref_windows: _containers.RepeatedScalarFieldContainer[str]
    alt_windows: _containers.RepeatedScalarFieldContainer[str]
    variants: _containers.RepeatedCompositeFieldContainer[VariantCoordinates]
    strand: str
    max_n_fraction: float
    scores: _containers.RepeatedScalarFieldContainer[str]
    rc_average: str
    tracks: _containers.RepeatedCompositeFieldContainer[_seqzoo_pb2.Track]
    def __init__(self, model: _Optional[str] = ..., ref_windows: _Optional[_Iterable[str]] = ..., alt_windows: _Optional[_Iterable[str]] = ..., variants: _Optional[_Iterable[_Union[VariantCoordinates, _Mapping]]] = ..., strand: _Optional[str] = ..., max_n_fraction: _Optional[float] = ..., scores: _Optional[_Iterable[str]] = ..., rc_average: _Optional[str] = ..., tracks: _Optional[_Iterable[_Union[_seqzoo_pb2.Track, _Mapping]]] = ...) -> None: ...

class VariantResult(_message.Message):
    __slots__ = ("variant", "key", "strand", "ref_match", "skip", "row", "ref_span", "alt_span")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    STRAND_FIELD_NUMBER: _ClassVar[int]
    REF_MATCH_FIELD_NUMBER: _ClassVar[int]
    SKIP_FIELD_NUMBER: _ClassVar[int]
    ROW_FIELD_NUMBER: _ClassVar[int]
    REF_SPAN_FIELD_NUMBER: _ClassVar[int]
    ALT_SPAN_FIELD_NUMBER: _ClassVar[int]
    variant: int
    key: str
    strand: str
    ref_match: int
    skip: str
    row: int
    ref_span: _containers.RepeatedScalarFieldContainer[int]
    alt_span: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, variant: _Optional[int] = ..., key: _Optional[str] = ..., strand: _Optional[str] = ..., ref_match: _Optional[int] = ..., skip: _Optional[str] = ..., row: _Optional[int] = ..., ref_span: _Optional[_Iterable[int]] = ..., alt_span: _Optional[_Iterable[int]] = ...) -> None: ...

class ScoreVariantsResponse(_message.Message):
    __slots__ = ("model", "classes", "score_names", "scores", "shape", "rc_average", "results")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    SCORE_NAMES_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    RC_AVERAGE_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    model: str
    classes: _containers.RepeatedScalarFieldContainer[str]
    score_names: _containers.RepeatedScalarFieldContainer[str]
    scores: bytes
    shape: _containers.RepeatedScalarFieldContainer[int]
    rc_average: str
    results: _containers.RepeatedCompositeFieldContainer[VariantResult]
    def __init__(self, model: _Optional[str] = ..., classes: _Optional[_Iterable[str]] = ..., score_names: _Optional[_Iterable[str]] = ..., scores: _Optional[bytes] = ..., shape: _Optional[_Iterable[int]] = ..., rc_average: _Optional[str] = ..., results: _Optional[_Iterable[_Union[VariantResult, _Mapping]]] = ...) -> None: ...
