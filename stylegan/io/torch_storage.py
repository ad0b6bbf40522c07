"""Tensors inside pickles, rebuilt without torch.load.

Pickling a tensor writes a call of a torch rebuild function whose first argument is the tensor's storage, and
the storage pickles as `torch.storage._load_from_bytes(b)`, where `b` is a complete legacy (non-zip)
`torch.save` stream of that one storage. torch turns those bytes back with `torch.load(weights_only=False)`,
which runs whatever the bytes name. Here the stream is parsed by hand: its pickled records may name nothing
but storage types, and the raw data is bounded by the bytes actually present. Tensors always come back on the
CPU, whatever device they were saved from.

The errors defined here are shared with the network-pickle reader, which turns them into messages.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import warnings
from dataclasses import dataclass
from typing import Any

import torch

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # first record of a legacy torch.save stream
LEGACY_PROTOCOL = 1001  # second record; the only version torch ever wrote


def python3_name(module: str, name: str) -> tuple[str, str]:
    """The Python 3 name of a pickled global: protocols below 3 write Python 2 names (__builtin__, copy_reg)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class RefusedContent(pickle.UnpicklingError):
    """The file asks for something a network pickle must never contain; the message says what."""


class ForbiddenGlobal(RefusedContent):
    def __init__(self, module: str, name: str):
        super().__init__(f"it names the global {module}.{name}, which is not allowed in a network pickle")


class UnsupportedContent(pickle.UnpicklingError):
    """Well-formed, but a variant of the format this reader does not handle."""


@dataclass(frozen=True)
class StorageType:
    """What a storage class global such as `torch.FloatStorage` resolves to: only its element type."""

    dtype: torch.dtype


_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64,
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128,
    "UntypedStorage": torch.uint8,
}
# torch >= 1.13 always names the CPU class; older versions wrote torch.cuda.* for storages saved on a GPU.
STORAGE_TYPES: dict[tuple[str, str], StorageType] = {
    (module, name): StorageType(dtype)
    for module in ("torch", "torch.cuda")
    for name, dtype in _STORAGE_DTYPES.items()
}
STORAGE_TYPES[("torch.storage", "UntypedStorage")] = StorageType(torch.uint8)  # the byte storage of torch 2


class GuardedUnpickler(pickle._Unpickler):
    """An unpickler that resolves no global, takes no persistent id and refuses every state step.

    It is the pure-Python unpickler because that one lets single opcodes be replaced: the state step (BUILD)
    goes to `apply_state`, which subclasses open for the objects they expect, and copyreg extension codes,
    which no network pickle uses, are refused (they are looked up in a process-wide cache that find_class
    never sees).
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        raise ForbiddenGlobal(*python3_name(module, name))

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("unexpected persistent id")

    def apply_state(self, target: Any, state: Any) -> None:
        raise pickle.UnpicklingError(f"unexpected state for a {type(target).__name__}")

    def _load_build(self) -> None:
        state = self.stack.pop()
        self.apply_state(self.stack[-1], state)

    def _load_extension(self) -> None:
        raise pickle.UnpicklingError("copyreg extension codes are not allowed")

    dispatch[pickle.BUILD[0]] = _load_build
    for _opcode in (pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_opcode[0]] = _load_extension
    del _opcode


@dataclass(frozen=True)
class _StorageRef:
    key: str


@dataclass(frozen=True)
class LoadedStorage:
    """A storage read from a pickle: a 1-D tensor over the pickle's own (immutable) bytes, so it costs no
    memory; only the rebuild functions below accept it, and they copy what they take."""

    data: torch.Tensor


class _StorageRecordUnpickler(GuardedUnpickler):
    """The record of the saved storage: a persistent id naming its type, key and element count."""

    def __init__(self, file: io.BytesIO):
        super().__init__(file)
        self.declared: dict[str, tuple[torch.dtype, int]] = {}

    def find_class(self, module: str, name: str) -> Any:
        module, name = python3_name(module, name)
        if (module, name) in STORAGE_TYPES:
            return STORAGE_TYPES[(module, name)]
        raise ForbiddenGlobal(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise pickle.UnpicklingError("malformed storage reference in storage bytes")
        storage_type, key, _location, numel = pid[1:5]
        if not (isinstance(storage_type, StorageType) and isinstance(key, str)):
            raise pickle.UnpicklingError("malformed storage reference in storage bytes")
        if not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError("malformed storage size in storage bytes")
        if len(pid) == 6 and pid[5] is not None:
            # Storage views were dropped from torch.save before any StyleGAN release existed.
            raise UnsupportedContent("a storage view from a pre-1.0 torch version")
        if self.declared.setdefault(key, (storage_type.dtype, numel)) != (storage_type.dtype, numel):
            raise pickle.UnpicklingError("one storage declared twice with different types")
        return _StorageRef(key)


def read_legacy_storage(data: Any) -> LoadedStorage:
    """The storage inside `torch.storage._load_from_bytes(data)`."""
    if not isinstance(data, bytes):
        raise pickle.UnpicklingError("storage bytes expected")
    stream = io.BytesIO(data)
    if GuardedUnpickler(stream).load() != LEGACY_MAGIC:
        raise pickle.UnpicklingError("storage bytes are not a torch.save stream")
    if GuardedUnpickler(stream).load() != LEGACY_PROTOCOL:
        raise UnsupportedContent("a torch.save stream version other than 1001 in storage bytes")
    sys_info = GuardedUnpickler(stream).load()
    if not isinstance(sys_info, dict):
        raise pickle.UnpicklingError("storage bytes without system information")
    if sys_info.get("little_endian") is not True:
        raise UnsupportedContent("tensor data saved on a big-endian machine")
    records = _StorageRecordUnpickler(stream)
    ref = records.load()
    keys = GuardedUnpickler(stream).load()
    if not isinstance(ref, _StorageRef):
        raise pickle.UnpicklingError("storage bytes hold no storage")
    if not isinstance(keys, list) or len(set(keys)) != len(keys) or set(keys) != set(records.declared):
        raise pickle.UnpicklingError("storage bytes list other storages than they declare")

    position = stream.tell()
    storages = {}
    for key in keys:
        dtype, numel = records.declared[key]
        if position + 8 > len(data):
            raise pickle.UnpicklingError("storage bytes are truncated")
        count = int.from_bytes(data[position : position + 8], "little", signed=True)
        position += 8
        if count != numel:
            raise pickle.UnpicklingError("storage size does not match its declaration")
        nbytes = count * dtype.itemsize
        if position + nbytes > len(data):
            raise pickle.UnpicklingError("storage bytes are truncated")
        storages[key] = _tensor_over(data, position, count, dtype)
        position += nbytes
    return LoadedStorage(storages[ref.key])


def _tensor_over(data: bytes, offset: int, count: int, dtype: torch.dtype) -> torch.Tensor:
    if not count:
        return torch.empty(0, dtype=dtype)
    with warnings.catch_warnings():
        # torch warns that the buffer is read-only; nothing writes to this tensor (see LoadedStorage).
        warnings.simplefilter("ignore", UserWarning)
        return torch.frombuffer(data, dtype=dtype, count=count, offset=offset)


def _int_tuple(values: Any, what: str) -> tuple[int, ...]:
    if not isinstance(values, tuple | list | torch.Size) or not all(
        isinstance(v, int) and v >= 0 for v in values
    ):
        raise pickle.UnpicklingError(f"malformed tensor {what}")
    return tuple(values)


def rebuild_tensor(
    storage: Any,
    offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> torch.Tensor:
    """torch._utils._rebuild_tensor_v2 (and the older _rebuild_tensor): a plain CPU tensor; hooks are ignored."""
    if not isinstance(storage, LoadedStorage):
        raise pickle.UnpicklingError("tensor data without a storage")
    storage = storage.data
    size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    if len(size) != len(stride) or not isinstance(offset, int) or offset < 0:
        raise pickle.UnpicklingError("malformed tensor layout")
    numel = 1
    for n in size:
        numel *= n
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if numel and last >= storage.numel():
        raise pickle.UnpicklingError("tensor reaches past the end of its storage")
    if numel > storage.numel():
        # Only overlapping (expanded) layouts get here; a copy could be far larger than the file.
        raise UnsupportedContent("a tensor with more elements than its storage (an expanded view)")
    # The copy gives the tensor memory of its own instead of a view on the pickle's bytes.
    return _apply_metadata(storage.as_strided(size, stride, offset).clone(), metadata)


def rebuild_tensor_v3(
    storage: Any,
    offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    dtype: Any,
    metadata: Any = None,
) -> torch.Tensor:
    """torch._utils._rebuild_tensor_v3: element types without a storage class, saved on a byte storage."""
    if not isinstance(dtype, torch.dtype) or not isinstance(storage, LoadedStorage):
        raise pickle.UnpicklingError("malformed tensor")
    if storage.data.dtype != torch.uint8 or storage.data.numel() % dtype.itemsize:
        raise pickle.UnpicklingError("tensor storage does not fit its element type")
    return rebuild_tensor(LoadedStorage(storage.data.view(dtype)), offset, size, stride, metadata=metadata)


def _apply_metadata(tensor: torch.Tensor, metadata: Any) -> torch.Tensor:
    """Lazy negation / conjugation bits saved with the tensor; the stored values are the unflipped ones."""
    if not metadata:
        return tensor
    if not isinstance(metadata, dict) or not set(metadata) <= {"neg", "conj"}:
        raise UnsupportedContent(f"tensor metadata {metadata!r}")
    if metadata.get("neg"):
        tensor = -tensor
    if metadata.get("conj"):
        tensor = tensor.conj().resolve_conj()
    return tensor


def rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any, state: Any = None) -> torch.Tensor:
    """torch._utils._rebuild_parameter(_with_state): parameters come back as plain tensors."""
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("parameter without tensor data")
    return data


_TENSOR_FUNCTIONS = (rebuild_tensor, rebuild_tensor_v3, rebuild_parameter)


def rebuild_from_type(func: Any, new_type: Any, args: Any, state: Any) -> torch.Tensor:
    """torch._tensor._rebuild_from_type_v2: a tensor with Python attributes; only the tensor is kept."""
    if func not in _TENSOR_FUNCTIONS or not isinstance(args, tuple):
        raise pickle.UnpicklingError("unsupported tensor reconstruction")
    return func(*args)


TENSOR_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch.storage", "_load_from_bytes"): read_legacy_storage,
    ("torch._utils", "_rebuild_tensor"): rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v3"): rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): rebuild_from_type,
}
