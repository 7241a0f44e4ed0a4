from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContigsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ContigsResponse(_message.Message):
    __slots__ = ("names", "lengths", "genome")
    NAMES_FIELD_NUMBER: _ClassVar[int]
    LENGTHS_FIELD_NUMBER: _ClassVar[int]
    GENOME_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    lengths: _containers.RepeatedScalarFieldContainer[int]
    genome: str
    def __init__(self, names: _Optional[_Iterable[str]] = ..., lengths: _Optional[_Iterable[int]] = ..., genome: _Optional[str] = ...) -> None: ...

class GenomeRegion(_message.Message):
    __slots__ = ("contig", "start", "end", "strand")
    CONTIG_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    STRAND_FIELD_NUMBER: _ClassVar[int]
    contig: str
    start: int
    end: int
    strand: str
    def __init__(self, contig: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., strand: _Optional[str] = ...) -> None: ...

class AnnotateRequest(_message.Message):
    __slots__ = ("model", "regions", "stride", "classes")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    STRIDE_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    model: str
    regions: _containers.RepeatedCompositeFieldContainer[GenomeRegion]
    stride: int
    classes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model: _Optional[str] = ..., regions: _Optional[_Iterable[_Union[GenomeRegion, _Mapping]]] = ..., stride: _Optional[int] = ..., classes: _Optional[_Iterable[str]] = ...) -> None: ...

class AnnotateResponse(_message.Message):
    __slots__ = ("region", "contig", "strand", "start", "stride", "count", "values", "classes", "model", "shared_pass")
    REGION_FIELD_NUMBER: _ClassVar[int]
    CONTIG_FIELD_NUMBER: _ClassVar[int]
    STRAND_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    STRIDE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SHARED_PASS_FIELD_NUMBER: _ClassVar[int]
    region: int
    contig: str
    strand: str
    start: int
    stride: int
    count: int
    values: bytes
    classes: _containers.RepeatedScalarFieldContainer[str]
    model: str
    shared_pass: bool
    def __init__(self, region: _Optional[int] = ..., contig: _Optional[str] = ..., strand: _Optional[str] = ..., start: _Optional[int] = ..., stride: _Optional[int] = ..., count: _Optional[int] = ..., values: _Optional[bytes] = ..., classes: _Optional[_Iterable[str]] = ..., model: _Optional[str] = ..., shared_pass: _Optional[bool] = ...) -> None: ...
