from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AttributionMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTEGRATED_GRADIENTS: _ClassVar[AttributionMethod]
    SALIENCY: _ClassVar[AttributionMethod]
    ISM: _ClassVar[AttributionMethod]
    HYPOTHETICAL: _ClassVar[AttributionMethod]
INTEGRATED_GRADIENTS: AttributionMethod
SALIENCY: AttributionMethod
ISM: AttributionMethod
HYPOTHETICAL: AttributionMethod

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "version", "digest", "card_json", "provider", "length", "length_dynamic", "classes", "alphabet_letters", "structure", "ref", "tracks")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    CARD_JSON_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    LENGTH_DYNAMIC_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    ALPHABET_LETTERS_FIELD_NUMBER: _ClassVar[int]
    STRUCTURE_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    digest: str
    card_json: str
    provider: str
    length: int
    length_dynamic: bool
    classes: _containers.RepeatedScalarFieldContainer[str]
    alphabet_letters: str
    structure: bool
    ref: str
    tracks: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., digest: _Optional[str] = ..., card_json: _Optional[str] = ..., provider: _Optional[str] = ..., length: _Optional[int] = ..., length_dynamic: _Optional[bool] = ..., classes: _Optional[_Iterable[str]] = ..., alphabet_letters: _Optional[str] = ..., structure: _Optional[bool] = ..., ref: _Optional[str] = ..., tracks: _Optional[_Iterable[str]] = ...) -> None: ...

class Track(_message.Message):
    __slots__ = ("name", "values", "numbers")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    NUMBERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    values: _containers.RepeatedScalarFieldContainer[str]
    numbers: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, name: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ..., numbers: _Optional[_Iterable[float]] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class ScoreRequest(_message.Message):
    __slots__ = ("model", "codes", "length", "sequences", "structures", "convert_tu", "id", "tracks")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    STRUCTURES_FIELD_NUMBER: _ClassVar[int]
    CONVERT_TU_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    model: str
    codes: bytes
    length: int
    sequences: _containers.RepeatedScalarFieldContainer[str]
    structures: _containers.RepeatedScalarFieldContainer[str]
    convert_tu: bool
    id: int
    tracks: _containers.RepeatedCompositeFieldContainer[Track]
    def __init__(self, model: _Optional[str] = ..., codes: _Optional[bytes] = ..., length: _Optional[int] = ..., sequences: _Optional[_Iterable[str]] = ..., structures: _Optional[_Iterable[str]] = ..., convert_tu: _Optional[bool] = ..., id: _Optional[int] = ..., tracks: _Optional[_Iterable[_Union[Track, _Mapping]]] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("probs", "shape", "classes", "model", "id", "error_code", "error_message", "error_place")
    PROBS_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_PLACE_FIELD_NUMBER: _ClassVar[int]
    probs: bytes
    shape: _containers.RepeatedScalarFieldContainer[int]
    classes: _containers.RepeatedScalarFieldContainer[str]
    model: str
    id: int
    error_code: int
    error_message: str
    error_place: str
    def __init__(self, probs: _Optional[bytes] = ..., shape: _Optional[_Iterable[int]] = ..., classes: _Optional[_Iterable[str]] = ..., model: _Optional[str] = ..., id: _Optional[int] = ..., error_code: _Optional[int] = ..., error_message: _Optional[str] = ..., error_place: _Optional[str] = ...) -> None: ...

class AttributeRequest(_message.Message):
    __slots__ = ("model", "codes", "length", "sequences", "structures", "convert_tu", "method", "target", "steps", "float16", "tracks")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    STRUCTURES_FIELD_NUMBER: _ClassVar[int]
    CONVERT_TU_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    FLOAT16_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    model: str
    codes: bytes
    length: int
    sequences: _containers.RepeatedScalarFieldContainer[str]
    structures: _containers.RepeatedScalarFieldContainer[str]
    convert_tu: bool
    method: AttributionMethod
    target: str
    steps: int
    float16: bool
    tracks: _containers.RepeatedCompositeFieldContainer[Track]
    def __init__(self, model: _Optional[str] = ..., codes: _Optional[bytes] = ..., length: _Optional[int] = ..., sequences: _Optional[_Iterable[str]] = ..., structures: _Optional[_Iterable[str]] = ..., convert_tu: _Optional[bool] = ..., method: _Optional[_Union[AttributionMethod, str]] = ..., target: _Optional[str] = ..., steps: _Optional[int] = ..., float16: _Optional[bool] = ..., tracks: _Optional[_Iterable[_Union[Track, _Mapping]]] = ...) -> None: ...

class AttributeResponse(_message.Message):
    __slots__ = ("attributions", "shape", "dtype", "probs", "probs_shape", "target", "model", "columns")
    ATTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    PROBS_FIELD_NUMBER: _ClassVar[int]
    PROBS_SHAPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    attributions: bytes
    shape: _containers.RepeatedScalarFieldContainer[int]
    dtype: str
    probs: bytes
    probs_shape: _containers.RepeatedScalarFieldContainer[int]
    target: str
    model: str
    columns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, attributions: _Optional[bytes] = ..., shape: _Optional[_Iterable[int]] = ..., dtype: _Optional[str] = ..., probs: _Optional[bytes] = ..., probs_shape: _Optional[_Iterable[int]] = ..., target: _Optional[str] = ..., model: _Optional[str] = ..., columns: _Optional[_Iterable[str]] = ...) -> None: ...
