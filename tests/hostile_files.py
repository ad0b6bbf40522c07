"""Hostile model files, built from scratch, and a harness that loads each one in a limited subprocess.

Every builder returns the bytes of one file that attacks the loader in one way: deep nesting, memory
amplification through memo references, shared-reference DAGs, sizes that are stated but not backed by weights,
malformed values, text meant for a terminal or for rich markup, and files that try to fill a process-wide
cache. `tests/test_hostile_models.py` uses the builders; run this file to measure the loader as it is:

    python tests/hostile_files.py measure [--json results.json] [--only NAME ...]

The cases run in a worker interpreter, one after another, each with its address space capped 2 GiB above
what is mapped when it starts (so a case that asks for 16 GB fails instead of swapping) and under a time
limit; a crash or a hang is recorded and the worker restarted after that case. The table gives the outcome,
the CPU time of the load and the peak memory above the imports. HOSTILE_PACKAGE_ROOT=/some/checkout makes
the workers import `stylegan` from another copy (the code as it was, for "before" numbers). The same file holds the mutation fuzzer (`fuzz_cases`) and its worker
(`python tests/hostile_files.py fuzz ...`), which the tests run in a subprocess so that a crash of the
interpreter is seen as a crash and not as a dead test session.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import io
import json
import os
import pickle
import pickletools
import random
import resource
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("HOSTILE_PACKAGE_ROOT", TESTS.parent))  # where the workers import stylegan from
MEMORY_CAP = 2 << 30  # address space a case may add above the imports
ESCAPES = (b"\x1b", b"\x07", b"\x9b", "\x9b".encode())  # ESC, BEL, C1 CSI (raw and as UTF-8)

# pickle opcodes, assembled by hand ---------------------------------------------------------------------------

P = pickle


def op_str(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    if len(data) < 256:
        return P.SHORT_BINUNICODE + bytes([len(data)]) + data
    return P.BINUNICODE + struct.pack("<I", len(data)) + data


def op_bytes(data: bytes) -> bytes:
    if len(data) < 256:
        return P.SHORT_BINBYTES + bytes([len(data)]) + data
    return P.BINBYTES + struct.pack("<I", len(data)) + data


def op_int(value: int) -> bytes:
    if -(2**31) <= value < 2**31:
        return P.BININT + struct.pack("<i", value)
    encoded = pickle.encode_long(value)
    return P.LONG1 + bytes([len(encoded)]) + encoded


def op_global(module: str, name: str) -> bytes:
    return op_str(module) + op_str(name) + P.STACK_GLOBAL


def op_put(index: int) -> bytes:
    return P.LONG_BINPUT + struct.pack("<I", index)


def op_get(index: int) -> bytes:
    return P.LONG_BINGET + struct.pack("<I", index)


def op_call(func: bytes, *args: bytes) -> bytes:
    """func(*args), each part already assembled."""
    return func + P.MARK + b"".join(args) + P.TUPLE + P.REDUCE


HEAD = P.PROTO + b"\x04"


def op_ordered_dict() -> bytes:
    return op_call(op_global("collections", "OrderedDict"))


def legacy_storage(
    data: bytes, numel: int, storage: str = "FloatStorage", keys: bytes | None = None
) -> bytes:
    """A legacy torch.save stream of one storage, as torch.storage._load_from_bytes reads it."""

    def dump(value) -> bytes:
        return pickle.dumps(value, protocol=2)

    head = dump(0x1950A86A20F9469CFC6C) + dump(1001) + dump({"protocol_version": 1001, "little_endian": True})
    pid = (
        P.PROTO
        + b"\x02"
        + P.MARK
        + op_str("storage")
        + P.GLOBAL
        + f"torch\n{storage}\n".encode()
        + op_str("0")
        + op_str("cpu")
        + op_int(numel)
        + P.NONE
        + P.TUPLE
        + P.BINPERSID
        + P.STOP
    )
    keys = keys if keys is not None else dump(["0"])
    return head + pid + keys + struct.pack("<q", numel) + data


def op_tensor(storage: bytes, size: tuple[int, ...], stride: tuple[int, ...], offset: int = 0) -> bytes:
    def int_tuple(values):
        return P.MARK + b"".join(op_int(v) for v in values) + P.TUPLE

    return op_call(
        op_global("torch._utils", "_rebuild_tensor_v2"),
        storage,
        op_int(offset),
        int_tuple(size),
        int_tuple(stride),
        P.NEWFALSE,
        op_ordered_dict(),
    )


def snapshot_of(value: bytes, key: str = "G_ema") -> bytes:
    """{key: value} as a whole pickle."""
    return HEAD + P.EMPTY_DICT + op_str(key) + value + P.SETITEM + P.STOP


def nested_tuple(levels: int) -> bytes:
    return P.EMPTY_TUPLE + P.TUPLE1 * levels


def tuple_dag(levels: int, first_memo: int = 0) -> bytes:
    """t[i+1] = (t[i], t[i]), leaving only the last on the stack: 2**levels leaves from a few bytes per level."""
    parts = [P.EMPTY_TUPLE + op_put(first_memo) + P.POP]
    for i in range(levels):
        item = op_get(first_memo + i)
        parts.append(item + item + P.TUPLE2 + op_put(first_memo + i + 1) + P.POP)
    return b"".join(parts) + op_get(first_memo + levels)


def list_dag(levels: int, first_memo: int = 0) -> bytes:
    """l[i+1] = [l[i], l[i]], leaving only the last on the stack."""
    parts = [P.EMPTY_LIST + op_put(first_memo) + P.POP]
    for i in range(levels):
        item = op_get(first_memo + i)
        parts.append(P.EMPTY_LIST + P.MARK + item + item + P.APPENDS + op_put(first_memo + i + 1) + P.POP)
    return b"".join(parts) + op_get(first_memo + levels)


# official-layout pickles, edited ---------------------------------------------------------------------------


class _Persistent:
    """An official persistent object while its meta is being edited."""

    def __init__(self, meta: dict):
        self.meta = meta

    def __reduce__(self):
        return sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (self.meta,)

    @property
    def state(self) -> dict:
        return self.meta["state"]

    def child(self, *names: str) -> _Persistent:
        node = self
        for name in names:
            node = node.state["_modules"][name]
        return node


class _Call:
    """Pickles as func(*args)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class _EditUnpickler(pickle.Unpickler):
    """Reads our own official-layout test files back (trusted) with persistent objects as editable records."""

    def find_class(self, module, name):
        if (module, name) == ("torch_utils.persistence", "_reconstruct_persistent_obj"):
            return _Persistent
        return super().find_class(module, name)


def tiny_official_snapshot(architecture: str = "stylegan-xl", **kwargs) -> dict:
    """The snapshot dict of a tiny generator in the official layout, with editable network records."""
    sys.path.insert(0, str(TESTS))
    from official_layout import write_official_pickle
    from tiny import tiny_generator

    with tempfile.TemporaryDirectory() as folder:
        G = tiny_generator(architecture, **kwargs)
        path = write_official_pickle(G, Path(folder) / "net.pkl", Path(folder) / "marker-never-written")
        return _EditUnpickler(io.BytesIO(path.read_bytes())).load()


def dump_official(snapshot: dict, protocol: int = 4) -> bytes:
    sys.path.insert(0, str(TESTS))
    from official_layout import fake_persistence_module

    with fake_persistence_module():
        return pickle.dumps(snapshot, protocol=protocol)


def _deep_dump(value, protocol: int = 4) -> bytes:
    """pickle.dumps of a deeply nested value, in a thread with a large stack."""
    result = {}

    def work():
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(200_000)
        try:
            result["data"] = dump_official(value, protocol)
        finally:
            sys.setrecursionlimit(limit)

    threading.stack_size(512 << 20)
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    threading.stack_size(0)
    return result["data"]


def edited_official(edit: Callable[[_Persistent], object], architecture: str = "stylegan-xl") -> bytes:
    snapshot = tiny_official_snapshot(architecture)
    edit(snapshot["G_ema"])
    return dump_official(snapshot)


# safetensors files ----------------------------------------------------------------------------------------


def tiny_checkpoint(architecture: str = "stylegan-xl") -> bytes:
    sys.path.insert(0, str(TESTS))
    from tiny import tiny_generator

    import stylegan

    with tempfile.TemporaryDirectory() as folder:
        return stylegan.save(tiny_generator(architecture), Path(folder) / "m.safetensors").read_bytes()


def split_safetensors(data: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length]), data[8 + length :]


def join_safetensors(header: dict | bytes, body: bytes) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


def checkpoint_with(config_edit=None, metadata=None, drop_tensors=False, header_edit=None) -> bytes:
    """The tiny checkpoint with its config or metadata changed, optionally without any tensors."""
    header, body = split_safetensors(tiny_checkpoint())
    meta = header["__metadata__"]
    if config_edit is not None:
        config = json.loads(meta["config"])
        result = config_edit(config)
        meta["config"] = result if isinstance(result, str) else json.dumps(config)
    if metadata is not None:
        meta.update(metadata)
    if drop_tensors:
        header, body = {"__metadata__": meta}, b""
    if header_edit is not None:
        header_edit(header)
    return join_safetensors(header, body)


def _set_path(config: dict, path: str, value) -> dict:
    node = config
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return config


# the cases ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    group: str  # the class of attack
    name: str
    build: Callable[[], bytes]
    suffix: str = ".pkl"
    mode: str = (
        "load"  # load: stylegan.load; info: the `stylegan info` command; retained: memory kept afterwards
    )
    file_name: str | None = None  # a hostile file name (suffix included)


def _storage_x4000() -> bytes:
    numel = 1 << 20  # 4 MiB of float32
    storage = op_call(
        op_global("torch.storage", "_load_from_bytes"), op_bytes(legacy_storage(bytes(4 * numel), numel))
    )
    tensors = b"".join(op_tensor(op_get(0), (numel,), (1,)) for _ in range(4000))
    return snapshot_of(storage + op_put(0) + P.POP + P.EMPTY_LIST + P.MARK + tensors + P.APPENDS)


def _storage_bytes_x4000() -> bytes:
    numel = 1 << 20
    blob = op_bytes(legacy_storage(bytes(4 * numel), numel)) + op_put(0) + P.POP
    load = op_global("torch.storage", "_load_from_bytes")
    tensors = b"".join(op_tensor(op_call(load, op_get(0)), (numel,), (1,)) for _ in range(4000))
    return snapshot_of(blob + P.EMPTY_LIST + P.MARK + tensors + P.APPENDS)


def _numpy_array(data: bytes, shape: tuple[int, ...]) -> bytes:
    reconstruct = op_global("numpy.core.multiarray", "_reconstruct")
    dtype = op_call(op_global("numpy", "dtype"), op_str("f4"), P.NEWFALSE, P.NEWTRUE)
    array = op_call(reconstruct, op_global("numpy", "ndarray"), P.MARK + op_int(0) + P.TUPLE, op_bytes(b"b"))
    shape_tuple = P.MARK + b"".join(op_int(n) for n in shape) + P.TUPLE
    state = P.MARK + op_int(1) + shape_tuple + dtype + P.NEWFALSE + data + P.TUPLE
    return array + state + P.BUILD


def _numpy_x4000() -> bytes:
    blob = op_bytes(bytes(4 << 20)) + op_put(0) + P.POP
    arrays = b"".join(_numpy_array(op_get(0), (1 << 20,)) for _ in range(4000))
    return snapshot_of(blob + P.EMPTY_LIST + P.MARK + arrays + P.APPENDS)


def _latin1_x4000() -> bytes:
    text = op_str("a" * (4 << 20)) + op_put(0) + P.POP
    encode = op_global("_codecs", "encode")
    copies = b"".join(op_call(encode, op_get(0), op_str("latin1")) for _ in range(4000))
    return snapshot_of(text + P.EMPTY_LIST + P.MARK + copies + P.APPENDS)


def _set_of_list_x1000() -> bytes:
    items = (
        P.EMPTY_LIST + op_put(0) + P.MARK + b"".join(op_int(i) for i in range(1 << 18)) + P.APPENDS + P.POP
    )
    make_set = op_global("builtins", "set")
    sets = b"".join(op_call(make_set, op_get(0)) for _ in range(1000))
    return snapshot_of(items + P.EMPTY_LIST + P.MARK + sets + P.APPENDS)


def _dict_update_x1000() -> bytes:
    entries = P.MARK + b"".join(op_str(f"k{i}") + P.NONE for i in range(1 << 16)) + P.DICT
    state = entries + op_put(0) + P.POP
    easydicts = b"".join(op_call(op_global("dnnlib", "EasyDict")) + op_get(0) + P.BUILD for _ in range(1000))
    return snapshot_of(state + P.EMPTY_LIST + P.MARK + easydicts + P.APPENDS)


def _inert_call_chain(levels: int = 50_000) -> bytes:
    return snapshot_of(op_global("torch.nn", "Module") + (P.EMPTY_TUPLE + P.REDUCE) * levels)


def _tensor_metadata_dag() -> bytes:
    numel = 4
    storage = op_call(
        op_global("torch.storage", "_load_from_bytes"), op_bytes(legacy_storage(bytes(16), numel))
    )
    dag = list_dag(40, first_memo=10)
    tensor = op_call(
        op_global("torch._utils", "_rebuild_tensor_v2"),
        storage,
        op_int(0),
        P.MARK + op_int(4) + P.TUPLE,
        P.MARK + op_int(1) + P.TUPLE,
        P.NEWFALSE,
        op_ordered_dict(),
        dag,
    )
    return snapshot_of(tensor)


def _list_dag_value(levels: int = 40) -> list:
    value: list = []
    for _ in range(levels):
        value = [value, value]
    return value


def _input_size_dag() -> bytes:
    def edit(G):
        G.child("synthesis", "input").state["size"] = _list_dag_value()

    return edited_official(edit)


def _stylegan2_option_dag() -> bytes:
    def edit(G):
        G.child("synthesis").state["_init_kwargs"]["bogus"] = _list_dag_value()

    return edited_official(edit, "stylegan2")


def _storage_keys_dag() -> bytes:
    keys = P.PROTO + b"\x02" + P.EMPTY_LIST + P.MARK + tuple_dag(40) + P.APPENDS + P.STOP
    stream = legacy_storage(bytes(16), 4, keys=keys)
    return snapshot_of(op_call(op_global("torch.storage", "_load_from_bytes"), op_bytes(stream)))


def _tuple_key(levels: int) -> bytes:
    return HEAD + P.EMPTY_DICT + nested_tuple(levels) + P.NONE + P.SETITEM + P.STOP


def _set_member(levels: int) -> bytes:
    return HEAD + P.EMPTY_SET + P.MARK + nested_tuple(levels) + P.ADDITEMS + P.STOP


def _storage_sys_info_key() -> bytes:
    deep = P.PROTO + b"\x02" + P.EMPTY_DICT + nested_tuple(400_000) + P.NONE + P.SETITEM + P.STOP
    stream = pickle.dumps(0x1950A86A20F9469CFC6C, 2) + pickle.dumps(1001, 2) + deep
    return snapshot_of(op_call(op_global("torch.storage", "_load_from_bytes"), op_bytes(stream)))


def _nested_list(levels: int) -> bytes:
    """[[[...]]]: each list appended into the one below it on the stack."""
    return HEAD + P.EMPTY_LIST * levels + P.APPEND * (levels - 1) + P.STOP


def _deep_modules(levels: int = 5000) -> bytes:
    def edit(G):
        node = G.child("mapping")
        for _ in range(levels):
            child = _Persistent(copy.copy(node.meta))
            child.meta["state"] = {"_modules": OrderedDict(), "_parameters": OrderedDict()}
            node.state["_modules"]["extra"] = child
            node = child

    snapshot = tiny_official_snapshot()
    edit(snapshot["G_ema"])
    return _deep_dump(snapshot)


def _layer_state(G, key, value, layer_index=0):
    layer = G.child("synthesis", G.child("synthesis").state["layer_names"][layer_index])
    layer.state[key] = value


def _zero_size_array() -> bytes:
    import numpy as np

    def edit(G):
        G.child("synthesis", "input").state["size"] = np.zeros((0, 10**18), dtype=np.float32)

    return edited_official(edit)


def _zero_size_tensor() -> bytes:
    numel = 4
    storage = op_call(
        op_global("torch.storage", "_load_from_bytes"), op_bytes(legacy_storage(bytes(16), numel))
    )
    return snapshot_of(op_tensor(storage, (0, 10**18), (1, 1)))


def _class_name(name: str) -> Callable[[], bytes]:
    def build():
        def edit(G):
            G.meta["class_name"] = name

        return edited_official(edit)

    return build


def _layer_name(name: str) -> Callable[[], bytes]:
    def build():
        def edit(G):
            synthesis = G.child("synthesis")
            old = synthesis.state["layer_names"][0]
            synthesis.state["layer_names"][0] = name
            modules = synthesis.state["_modules"]
            synthesis.state["_modules"] = OrderedDict(
                (name if k == old else k, v) for k, v in modules.items()
            )

        return edited_official(edit)

    return build


def _many_names(count: int = 200_000) -> bytes:
    module = op_str("torch.nn.modules.hostile") + op_put(0)
    parts = [HEAD, module, P.POP]
    for i in range(count):
        parts.append(op_get(0) + op_str(f"Name{i:06d}_" + "x" * 8) + P.STACK_GLOBAL + P.POP)
    parts.append(op_global("os", "system") + P.STOP)
    return b"".join(parts)


def _truncated_many_names(count: int = 200_000) -> bytes:
    return _many_names(count)[:-40]


def _forbidden_global_with_escapes() -> bytes:
    return snapshot_of(op_call(op_global("os\x1b[2J", "system\x1b]0;pwned\x07"), op_str("true")))


def _tiny_official() -> bytes:
    return dump_official(tiny_official_snapshot())


def _deep_json(levels: int = 100_000) -> str:
    return "[" * levels + "]" * levels


def _zero_rate(config):
    config["synthesis_kwargs"]["layers"][0]["in_sampling_rate"] = 0


def _inf_rate(config):
    config["synthesis_kwargs"]["input"]["sampling_rate"] = float("inf")


def _shape(shape) -> Callable[[dict], None]:
    def edit(header):
        name = next(k for k in header if k != "__metadata__")
        header[name]["shape"] = shape

    return edit


def _offsets(offsets) -> Callable[[dict], None]:
    def edit(header):
        name = next(k for k in header if k != "__metadata__")
        header[name]["data_offsets"] = offsets

    return edit


def _safetensors(config_edit=None, **kwargs) -> Callable[[], bytes]:
    return lambda: checkpoint_with(config_edit, **kwargs)


CASES: list[Case] = [
    # 1. deep nesting
    Case("depth", "tuple-key-1k", lambda: _tuple_key(1_000)),
    Case("depth", "tuple-key-10k", lambda: _tuple_key(10_000)),
    Case("depth", "tuple-key-50k", lambda: _tuple_key(50_000)),
    Case("depth", "tuple-key-100k", lambda: _tuple_key(100_000)),
    Case("depth", "tuple-key-400k", lambda: _tuple_key(400_000)),
    Case("depth", "set-member-400k", lambda: _set_member(400_000)),
    Case("depth", "storage-bytes-tuple-key-400k", _storage_sys_info_key),
    Case("depth", "nested-lists-400k", lambda: _nested_list(400_000)),
    # 2. memory amplification through memo references
    Case("amplification", "storage-x4000", _storage_x4000),
    Case("amplification", "storage-bytes-x4000", _storage_bytes_x4000),
    Case("amplification", "numpy-bytes-x4000", _numpy_x4000),
    Case("amplification", "latin1-str-x4000", _latin1_x4000),
    Case("amplification", "set-of-list-x1000", _set_of_list_x1000),
    Case("amplification", "easydict-state-x1000", _dict_update_x1000),
    Case("amplification", "inert-call-chain-50k", _inert_call_chain),
    # 3. shared-reference DAGs
    Case("dag", "tensor-metadata-list-dag-40", _tensor_metadata_dag),
    Case("dag", "input-size-list-dag-40", _input_size_dag),
    Case("dag", "stylegan2-option-list-dag-40", _stylegan2_option_dag),
    Case(
        "dag",
        "dict-key-tuple-dag-40",
        lambda: HEAD + P.EMPTY_DICT + tuple_dag(40) + P.NONE + P.SETITEM + P.STOP,
    ),
    Case("dag", "storage-keys-tuple-dag-40", _storage_keys_dag),
    # 4. sizes stated before any weight is read
    Case(
        "sizes",
        "st-layer-features-30000",
        _safetensors(
            lambda c: c["mapping_kwargs"].update(num_layers=8, layer_features=30000), drop_tensors=True
        ),
        ".safetensors",
    ),  # fmt: skip
    Case(
        "sizes",
        "st-mapping-layers-100000",
        _safetensors(lambda c: c["mapping_kwargs"].update(num_layers=100_000), drop_tensors=True),
        ".safetensors",
    ),  # fmt: skip
    Case(
        "sizes",
        "st-z-dim-1e9",
        _safetensors(lambda c: c.update(z_dim=10**9), drop_tensors=True),
        ".safetensors",
    ),
    Case(
        "sizes",
        "st-layer-channels-1e6",
        _safetensors(
            lambda c: _set_path(c, "synthesis_kwargs.layers.1.in_channels", 10**6), drop_tensors=True
        ),
        ".safetensors",
    ),  # fmt: skip
    Case(
        "sizes",
        "st-stylegan2-resolution-65536",
        _safetensors(
            lambda c: c.update(
                architecture="stylegan2", img_resolution=65536, synthesis_kwargs={"channel_base": 2**20}
            ),
            drop_tensors=True,
        ),
        ".safetensors",
    ),  # fmt: skip
    Case(
        "sizes",
        "st-fp16-res-minus-1e9",
        _safetensors(
            lambda c: c.update(
                architecture="stylegan2",
                synthesis_kwargs={"channel_base": 512, "channel_max": 16, "num_fp16_res": -(10**9)},
            ),
            drop_tensors=True,
        ),
        ".safetensors",
    ),  # fmt: skip
    Case("sizes", "pkl-w-dim-30000", lambda: edited_official(lambda G: G.state.update(w_dim=30000))),
    Case(
        "sizes",
        "pkl-layer-channels-1e5",
        lambda: edited_official(lambda G: _layer_state(G, "out_channels", 100_000, 1)),
    ),  # fmt: skip
    # 5. malformed values that used to reach the user as tracebacks
    Case("malformed", "format-version-abc", _safetensors(metadata={"format_version": "abc"}), ".safetensors"),
    Case(
        "malformed",
        "format-version-5000-digits",
        _safetensors(metadata={"format_version": "9" * 5000}),
        ".safetensors",
    ),  # fmt: skip
    Case(
        "malformed", "format-version-minus-1", _safetensors(metadata={"format_version": "-1"}), ".safetensors"
    ),
    Case("malformed", "metadata-a-list", _safetensors(metadata={"metadata": "[1, 2]"}), ".safetensors"),
    Case("malformed", "metadata-null", _safetensors(metadata={"metadata": "null"}), ".safetensors"),
    Case("malformed", "config-a-list", _safetensors(lambda c: "[]"), ".safetensors"),
    Case("malformed", "z-dim-negative", _safetensors(lambda c: c.update(z_dim=-1)), ".safetensors"),
    Case("malformed", "w-dim-float", _safetensors(lambda c: c.update(w_dim=32.5)), ".safetensors"),
    Case("malformed", "z-dim-1e30", _safetensors(lambda c: c.update(z_dim=10**30)), ".safetensors"),
    Case("malformed", "config-json-100k-deep", _safetensors(lambda c: _deep_json()), ".safetensors"),
    Case(
        "malformed",
        "metadata-json-100k-deep",
        _safetensors(metadata={"metadata": _deep_json()}),
        ".safetensors",
    ),
    Case("malformed", "sampling-rate-zero", _safetensors(_zero_rate), ".safetensors"),
    Case("malformed", "sampling-rate-infinite", _safetensors(_inf_rate), ".safetensors"),
    Case(
        "malformed",
        "pkl-sampling-rate-zero",
        lambda: edited_official(lambda G: _layer_state(G, "in_sampling_rate", 0)),
    ),  # fmt: skip
    Case("malformed", "pkl-deep-modules-5000", _deep_modules),
    Case("malformed", "pkl-zero-size-array-1e18", _zero_size_array),
    Case("malformed", "pkl-zero-size-tensor-1e18", _zero_size_tensor),
    Case("malformed", "st-shape-negative", _safetensors(header_edit=_shape([-1, 4])), ".safetensors"),
    Case("malformed", "st-shape-float", _safetensors(header_edit=_shape([1.5])), ".safetensors"),
    Case("malformed", "st-shape-overflow", _safetensors(header_edit=_shape([2**62, 2**62])), ".safetensors"),
    Case("malformed", "st-offsets-overflow", _safetensors(header_edit=_offsets([0, 2**70])), ".safetensors"),
    # 6. file text shown to a person
    Case("text", "class-name-markup", _class_name("model[/]"), mode="info"),
    Case("text", "class-name-escapes", _class_name("G\x1b[2J\x1b]0;pwned\x07\x9b31m"), mode="info"),
    Case("text", "path-markup", _tiny_official, mode="info", file_name="model[/].pkl"),
    Case("text", "refused-global-escapes", _forbidden_global_with_escapes, mode="info"),
    Case("text", "layer-name-markup", _layer_name("L0_[/]"), mode="info"),
    Case(
        "text",
        "metadata-source-escapes",
        _safetensors(metadata={"metadata": json.dumps({"source": "\x1b[2J\x1b]8;;http://x\x07"})}),
        ".safetensors",
        mode="info",
    ),  # fmt: skip
    # 7. what a refused file leaves behind in a long-running process
    Case("cache", "200k-names-then-refused", _many_names, mode="retained"),
    Case("cache", "200k-names-then-truncated", _truncated_many_names, mode="retained"),
]


# one case in a subprocess -------------------------------------------------------------------------------------


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def limit_memory(extra: int = MEMORY_CAP) -> int:
    """Cap the address space at what is mapped now plus `extra`, and restart the peak-RSS count (Linux).
    Returns the resident size now, in bytes, to subtract from `peak_rss()` afterwards."""
    resource.setrlimit(resource.RLIMIT_AS, (_vm_size() + extra, resource.RLIM_INFINITY))
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return _status_bytes("VmRSS:")


def peak_rss() -> int:
    return _status_bytes("VmHWM:") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0


def _read_model(path: Path) -> str:
    import stylegan

    stylegan.load(path)
    return "model"


def _read_target(path: Path) -> str:
    from hostile_inputs import TARGET_RESOLUTION

    from stylegan.inversion import load_target

    load_target(path, TARGET_RESOLUTION)
    return "image"


def _read_latent(path: Path) -> str:
    from types import SimpleNamespace

    from hostile_inputs import LATENT_SHAPE

    from stylegan.inversion import load_latent

    load_latent(path, SimpleNamespace(**LATENT_SHAPE))
    return "latent"


def _read_dataset(path: Path) -> str:
    """What training does with a dataset before and while it trains: open it, read every image and label."""
    from training.dataset import ImageDataset

    data = ImageDataset(path)
    data.check()
    for index in range(len(data)):
        data.label(index)
    return "dataset"


# How each mode reads a file ("info" and "retained" are handled in _run_one).
READERS = {"load": _read_model, "retained": _read_model, "target": _read_target, "latent": _read_latent,
           "dataset": _read_dataset}  # fmt: skip


def _run_one(path: Path, mode: str) -> dict:
    """Child side: load `path` once, in this process, and say what happened."""
    import tracemalloc

    from stylegan.errors import StyleGANError

    result: dict = {}
    gc.collect()
    if mode == "info":
        from click.testing import CliRunner

        from stylegan_cli import main

        baseline = limit_memory()
        started = time.process_time()
        outcome = CliRunner().invoke(main, ["info", str(path)])
        result["seconds"] = time.process_time() - started
        output = outcome.output.encode("utf-8", "surrogateescape")
        result["escapes"] = any(code in output for code in ESCAPES)
        error = None if isinstance(outcome.exception, SystemExit) else outcome.exception
        if error is not None:
            result["outcome"] = f"raw {type(error).__name__}"
            result["message"] = "".join(traceback.format_exception(error))[-600:]
        else:
            result["outcome"] = "StyleGANError" if outcome.exit_code == 2 else "printed"
            result["message"] = outcome.output[-300:]
    else:
        if mode == "retained":
            tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0] if mode == "retained" else 0
        baseline = limit_memory()
        started = time.process_time()
        try:
            result["outcome"] = READERS[mode](path)
        except StyleGANError as error:
            result["outcome"] = "StyleGANError"
            result["message"] = str(error)[:300]
        except Exception as error:
            result["outcome"] = f"raw {type(error).__name__}"
            result["message"] = traceback.format_exc()[-600:]
        result["seconds"] = time.process_time() - started
        if mode == "retained":
            gc.collect()
            result["retained_mb"] = (tracemalloc.get_traced_memory()[0] - before) / 2**20
            tracemalloc.stop()
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    result["peak_mb"] = max(0, peak_rss() - baseline) / 2**20
    return result


def _measure_worker(folder: Path, names: list[str]) -> None:
    """Child side of `measure`: run the named cases (files already in `folder`) one after another."""
    import torch

    torch.set_num_threads(1)
    import stylegan  # noqa: F401 (imported before the first case is timed)
    import stylegan_cli  # noqa: F401

    cases = {case.name: case for case in all_cases()}
    for name in names:
        case = cases[name]
        (folder / "progress").write_text(json.dumps(dict(name=name, started=time.time())))
        result = _run_one(folder / (case.file_name or f"{case.name}{case.suffix}"), case.mode)
        with (folder / "results.jsonl").open("a") as f:
            f.write(json.dumps(dict(case=name, **result)) + "\n")


def all_cases() -> list[Case]:
    """The model files here and the other inputs of tests/hostile_inputs.py."""
    from hostile_inputs import INPUT_CASES

    return CASES + INPUT_CASES


def measure(
    only: list[str] | None = None, timeout: float = 120, cases: list[Case] | None = None
) -> list[dict]:
    """Every case of `cases` (default: the model files; with `only`, any case named there by case or class),
    each read once; a worker process runs them in turn and is restarted after a crash or after a case that
    takes longer than `timeout` seconds."""
    cases = [
        case
        for case in (cases or (all_cases() if only else CASES))
        if not only or case.name in only or case.group in only
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=f"{ROOT}{os.pathsep}{TESTS}")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        sizes = {}
        for case in cases:
            data = case.build()
            sizes[case.name] = len(data)
            path = folder / (case.file_name or f"{case.name}{case.suffix}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        pending = [case.name for case in cases]
        while pending:
            (folder / "progress").unlink(missing_ok=True)
            command = [sys.executable, str(Path(__file__)), "measure-worker", str(folder), *pending]
            worker = subprocess.Popen(
                command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            failed = None
            while worker.poll() is None:
                time.sleep(0.2)
                progress = folder / "progress"
                if progress.exists():
                    try:
                        current = json.loads(progress.read_text())
                    except ValueError:
                        continue
                    if time.time() - current["started"] > timeout:
                        worker.kill()
                        worker.wait()
                        failed = (current["name"], f"timeout (> {timeout:.0f} s)")
            stderr = worker.stderr.read().decode(errors="replace")
            worker.stderr.close()
            done = []
            if (folder / "results.jsonl").exists():
                done = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
            for result in done:
                results[result["case"]] = result
            pending = [name for name in pending if name not in results]
            if not pending:
                break
            if failed is None:
                current = (
                    json.loads((folder / "progress").read_text())["name"]
                    if (folder / "progress").exists()
                    else pending[0]
                )
                how = (
                    f"crash (signal {-worker.returncode})"
                    if worker.returncode < 0
                    else f"died (exit {worker.returncode})"
                )
                failed = (current, how)
                if worker.returncode >= 0:
                    results.setdefault(current, {})["stderr"] = stderr[-500:]
            name, how = failed
            results.setdefault(name, {}).update(case=name, outcome=how, seconds=None, peak_mb=None)
            pending = [n for n in pending if n != name]
            print(json.dumps(results[name]), flush=True)
    ordered = []
    for case in cases:
        result = dict(results.get(case.name, dict(outcome="not run")))
        result.update(case=case.name, group=case.group, size=sizes[case.name])
        ordered.append(result)
    return ordered


def table(results: list[dict]) -> str:
    lines = ["| class | case | file | outcome | CPU s | peak MB | note |", "|---|---|---|---|---|---|---|"]
    for r in results:
        seconds = "-" if r.get("seconds") is None else f"{r['seconds']:.2f}"
        peak = "-" if r.get("peak_mb") is None else f"{r['peak_mb']:.0f}"
        note = []
        if r.get("escapes"):
            note.append("escape codes printed")
        if "retained_mb" in r:
            note.append(f"retained {r['retained_mb']:.1f} MB")
        size = f"{r['size'] / 1024:.0f} KB" if r["size"] < 2**20 else f"{r['size'] / 2**20:.1f} MB"
        lines.append(
            f"| {r['group']} | {r['case']} | {size} | {r['outcome']} | {seconds} | {peak} | {', '.join(note)} |"
        )
    return "\n".join(lines)


# the fuzzer ---------------------------------------------------------------------------------------------------

_INTERESTING_INTS = [
    0,
    1,
    -1,
    2,
    3,
    7,
    255,
    256,
    30000,
    65536,
    2**31 - 1,
    -(2**31),
    2**32,
    2**63,
    10**18,
    -(10**9),
]
_INTERESTING_FLOATS = [0.0, -0.0, 0.5, -1.0, 1e308, float("inf"), float("-inf"), float("nan")]
_INTERESTING_TEXT = ["", "x", "os", "system", "builtins", "eval", "[/]", "\x1b[2J", "_modules", "G_ema", "weight", "L0_36_512", "a" * 300]  # fmt: skip
_INTERESTING_JSON = [*_INTERESTING_INTS, *_INTERESTING_FLOATS[:5], True, False, None, "", "x", "[/]", [], {}, [1, 2], {"a": 1}, 1.5, 10**30]  # fmt: skip
_STRUCTURE_OPS = set(
    [
        "(",
        "t",
        ")",
        "l",
        "]",
        "d",
        "}",
        "s",
        "u",
        "a",
        "e",
        "b",
        "R",
        "\x81",
        "\x92",
        "\x86",
        "\x87",
        "\x8f",
        "\x90",
        "\x91",
        "0",
        "1",
        "2",
        "\x94",
        "h",
        "j",
        "g",
    ]
)


@dataclass
class Seed:
    name: str
    data: bytes
    suffix: str
    ops: list[tuple[int, int, str, object]]  # (start, end, opcode name, argument) for pickles


def _frameless(data: bytes) -> bytes:
    """The same pickle without FRAME opcodes, so that mutations need not keep frame lengths right."""
    parts, position = [], 0
    for opcode, _, start in pickletools.genops(data):
        if opcode.name == "FRAME":
            parts.append(data[position:start])
            position = start + 9
    parts.append(data[position:])
    return b"".join(parts)


def _pickle_ops(data: bytes) -> list[tuple[int, int, str, object]]:
    ops = []
    previous = None
    for opcode, arg, start in pickletools.genops(data):
        if previous is not None:
            ops[-1] = (*ops[-1][:1], start, *ops[-1][2:])
        ops.append((start, len(data), opcode.name, arg))
        previous = start
    return ops


def fuzz_seeds(marker: Path) -> list[Seed]:
    """Valid files of every family in both formats, plus pickles whose payload would write `marker`."""
    sys.path.insert(0, str(TESTS))
    from official_layout import write_official_pickle
    from tiny import tiny_generator

    import stylegan
    from stylegan.networks.growth import grow

    seeds = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        generators = {
            "xl": tiny_generator("stylegan-xl"),
            "sg3r": tiny_generator("stylegan3", c_dim=0, radial=True),
            "sg2": tiny_generator("stylegan2", c_dim=3),
        }
        generators["xl-superres"] = grow(generators["xl"], head_layers=3)
        for name, G in generators.items():
            path = write_official_pickle(G, folder / f"{name}.pkl", marker, superres=name == "xl-superres")
            data = _frameless(path.read_bytes())
            seeds.append(Seed(f"{name}.pkl", data, ".pkl", _pickle_ops(data)))
            if name != "xl-superres":
                st = stylegan.save(G, folder / f"{name}.safetensors").read_bytes()
                seeds.append(Seed(f"{name}.safetensors", st, ".safetensors", []))
    payload = pickle.dumps({"G_ema": _Call(os.system, f"touch {marker}")}, protocol=2)
    seeds.append(Seed("payload.pkl", payload, ".pkl", _pickle_ops(payload)))
    return seeds


def _encode_arg(name: str, value) -> bytes | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return op_int(value)
    if isinstance(value, float):
        return P.BINFLOAT + struct.pack(">d", value)
    if isinstance(value, str):
        return op_str(value)
    if isinstance(value, bytes):
        return op_bytes(value)
    return None


def _mutate_pickle(rng: random.Random, seed: Seed) -> bytes:
    data, ops = seed.data, seed.ops
    kind = rng.choice(["arg", "arg", "arg", "opcode", "dup", "delete", "memo", "bytes", "truncate", "swap"])
    start, end, name, arg = rng.choice(ops)
    if kind == "arg":
        candidates = [
            o
            for o in rng.sample(ops, min(len(ops), 64))
            if o[3] is not None and o[2] not in ("PROTO", "FRAME")
        ]
        if candidates:
            start, end, name, arg = rng.choice(candidates)
            if isinstance(arg, int) and "GET" not in name and "PUT" not in name:
                new = _encode_arg(name, rng.choice(_INTERESTING_INTS))
            elif isinstance(arg, str) and " " in arg:  # GLOBAL's "module name"
                module, _, attr = arg.partition(" ")
                new = P.GLOBAL + f"{rng.choice([module, 'os', 'builtins', 'torch.nn'])}\n{rng.choice([attr, 'system', 'eval', 'Module'])}\n".encode()  # fmt: skip
            elif isinstance(arg, str):
                new = _encode_arg(name, rng.choice([*_INTERESTING_TEXT, arg + rng.choice(_INTERESTING_TEXT)]))
            elif isinstance(arg, float):
                new = _encode_arg(name, rng.choice(_INTERESTING_FLOATS))
            elif isinstance(arg, bytes):
                cut = rng.randrange(len(arg) + 1)
                new = op_bytes(arg[:cut] + bytes(rng.randrange(3)) + arg[cut:])
            else:  # memo indexes
                new = op_get(rng.randrange(256)) if "GET" in name else data[start:end]
            if new is not None:
                return data[:start] + new + data[end:]
    if kind == "opcode":
        return data[:start] + bytes([rng.choice(list(pickle._Unpickler.dispatch))]) + data[start + 1 :]
    if kind in ("dup", "delete", "swap"):
        index = ops.index((start, end, name, arg))
        length = rng.randint(1, 12)
        last = ops[min(index + length, len(ops) - 1)][0]
        chunk = data[start:last]
        if kind == "delete":
            return data[:start] + data[last:]
        where = rng.choice(ops)[0]
        if kind == "dup":
            return data[:where] + chunk * rng.randint(1, 4) + data[where:]
        return data[:start] + data[where : where + len(chunk)] + data[last:]
    if kind == "memo":
        return data[:start] + op_get(rng.randrange(64)) + data[start:]
    if kind == "truncate":
        return data[: rng.randrange(len(data))]
    mutable = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        position = rng.randrange(len(mutable))
        mutable[position] = rng.randrange(256)
    return bytes(mutable)


def _json_paths(value, prefix=()) -> list[tuple]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _json_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:8]):
            paths += _json_paths(item, (*prefix, index))
    return paths


def _mutate_json(rng: random.Random, value):
    paths = _json_paths(value)[1:]
    if not paths:
        return value
    path = rng.choice(paths)
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    choice = rng.random()
    if choice < 0.15 and isinstance(parent, dict):
        parent.pop(path[-1], None)
    elif choice < 0.25 and isinstance(parent, dict):
        parent[rng.choice(["bogus", "layers", "input", "w_dim", "name"])] = rng.choice(_INTERESTING_JSON)
    else:
        old = parent[path[-1]]
        if isinstance(old, int | float) and not isinstance(old, bool) and rng.random() < 0.3:
            parent[path[-1]] = old * rng.choice([2, 10, -1, 0.5, 1000])
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(_INTERESTING_JSON))
    return value


def _mutate_safetensors(rng: random.Random, seed: Seed) -> bytes:
    header, body = split_safetensors(seed.data)
    meta = header["__metadata__"]
    kind = rng.choice(
        ["config", "config", "config", "metadata", "format", "tensor", "tensor", "bytes", "length", "body"]
    )
    if kind == "config":
        config = json.loads(meta["config"])
        for _ in range(rng.randint(1, 3)):
            config = _mutate_json(rng, config)
        meta["config"] = json.dumps(config) if rng.random() > 0.03 else "[" * 5000 + "]" * 5000
    elif kind == "metadata":
        meta[rng.choice(["metadata", "config"])] = rng.choice(['{"class_names": 5}', "[]", "nul", '{"source": "[/]\\u001b[2J"}', '{"class_names": ["a", "b", "c", "d", "e"]}'])  # fmt: skip
    elif kind == "format":
        key = rng.choice(["format", "format_version"])
        meta[key] = rng.choice(["", "0", "1", "2", "-1", "1.0", "abc", "9" * 50, "stylegan-studio"])
    elif kind == "tensor":
        names = [k for k in header if k != "__metadata__"]
        entry = header[rng.choice(names)]
        field = rng.choice(["shape", "dtype", "data_offsets", "drop"])
        if field == "drop":
            header.pop(rng.choice(names))
        elif field == "dtype":
            entry["dtype"] = rng.choice(["F16", "F64", "I64", "U8", "BOOL", "BF16", "X9"])
        elif field == "shape":
            entry["shape"] = rng.choice(
                [[], [0], [1], [2**31], [-1], [1.5], entry["shape"][::-1], [*entry["shape"], 1]]
            )
        else:
            entry["data_offsets"] = [rng.choice([0, 4, entry["data_offsets"][0]]), rng.choice([0, 8, 2**40, entry["data_offsets"][1]])]  # fmt: skip
    elif kind == "bytes":
        raw = bytearray(json.dumps(header).encode())
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(32, 127)
        return join_safetensors(bytes(raw), body)
    elif kind == "length":
        raw = join_safetensors(header, body)
        return struct.pack("<Q", rng.choice([0, 1, 7, 2**31, 2**63, len(raw)])) + raw[8:]
    else:
        cut = rng.randrange(len(body) + 1)
        body = body[:cut] if rng.random() < 0.5 else body[:cut] + os.urandom(rng.randint(1, 16)) + body[cut:]
    return join_safetensors(header, body)


def fuzz_cases(
    seed: int, count: int, seeds: list[Seed], start: int = 0
) -> Iterator[tuple[int, str, bytes, str]]:
    """(index, description, file bytes, suffix) for `count` mutated files, the same ones for the same seed."""
    for index in range(start, start + count):
        rng = random.Random(f"{seed}:{index}")
        base = rng.choice(seeds)
        data = base.data
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            current = Seed(base.name, data, base.suffix, base.ops if data is base.data else [])
            if base.suffix == ".pkl":
                if not current.ops:
                    try:
                        current.ops = _pickle_ops(data)
                    except Exception:
                        break
                data = _mutate_pickle(rng, current)
            else:
                try:
                    data = _mutate_safetensors(rng, current)
                except Exception:
                    break
        yield index, base.name, data, base.suffix if rng.random() > 0.05 else ".bin"


def _fuzz_worker(seed: int, start: int, count: int, folder: str, time_limit: float) -> None:
    """Child side of the fuzzer: load each case in this process and append one line per case to
    `folder`/cases.jsonl (index, outcome, CPU seconds, peak memory above the imports so far)."""
    import torch

    torch.set_num_threads(1)
    import stylegan
    from stylegan.errors import StyleGANError

    folder = Path(folder)
    marker = folder / "code-ran"
    seeds = fuzz_seeds(marker)
    gc.collect()
    baseline = limit_memory(1536 << 20)
    progress = folder / "progress"
    with (folder / "cases.jsonl").open("a") as log:
        for index, base, data, suffix in fuzz_cases(seed, count, seeds, start):
            progress.write_text(str(index))
            path = folder / f"case{suffix}"
            path.write_bytes(data)
            line: dict = dict(index=index, seed=base)
            started = time.process_time()
            try:
                stylegan.load(path)
                line["outcome"] = "model"
            except StyleGANError:
                line["outcome"] = "StyleGANError"
            except Exception as error:  # anything else is what the fuzzer looks for
                line["outcome"] = f"raw {type(error).__name__}"
                line["traceback"] = traceback.format_exc()[-1500:]
            line["seconds"] = time.process_time() - started
            line["peak_mb"] = (peak_rss() - baseline) / 2**20
            if line["seconds"] > time_limit:
                line["slow"] = True
            if marker.exists():
                line["code_ran"] = True
                marker.unlink()
            log.write(json.dumps(line) + "\n")
            log.flush()


def run_fuzz(seed: int, count: int, case_timeout: float = 60, time_limit: float = 5) -> dict:
    """Run `count` fuzz cases in worker subprocesses; a crash or a hang (no progress for `case_timeout`
    seconds) is recorded and the run goes on after that case in a new worker. Returns a summary: cases, models,
    errors (StyleGANError), failures (anything else, slow cases, code that ran), crashes, timeouts, the worst
    CPU seconds of one case and the peak memory above the imports."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=f"{ROOT}{os.pathsep}{TESTS}")
    crashes, timeouts = [], []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        log, progress = folder / "cases.jsonl", folder / "progress"
        next_case = 0
        while next_case < count:
            progress.unlink(missing_ok=True)
            command = [sys.executable, str(Path(__file__)), "fuzz-worker", str(seed), str(next_case), str(count - next_case), str(folder), str(time_limit)]  # fmt: skip
            worker = subprocess.Popen(
                command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            last, last_change, hung = None, time.monotonic(), False
            while worker.poll() is None:
                time.sleep(0.2)
                current = progress.read_text() if progress.exists() else None
                if current != last:
                    last, last_change = current, time.monotonic()
                elif current and time.monotonic() - last_change > case_timeout:
                    worker.kill()
                    worker.wait()
                    hung = True
            stderr = worker.stderr.read().decode(errors="replace")
            worker.stderr.close()
            lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
            done = max((line["index"] for line in lines), default=-1) + 1
            if worker.returncode == 0 and done >= count:
                break
            failed = done
            if hung:
                timeouts.append(failed)
            else:
                crashes.append(dict(index=failed, returncode=worker.returncode, stderr=stderr[-800:]))
            next_case = failed + 1
        lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    failures = [
        line
        for line in lines
        if line["outcome"].startswith("raw") or line.get("slow") or line.get("code_ran")
    ]
    worst = max(lines, key=lambda line: line["seconds"], default=None)
    return dict(
        cases=len(lines) + len(crashes) + len(timeouts),
        models=sum(line["outcome"] == "model" for line in lines),
        errors=sum(line["outcome"] == "StyleGANError" for line in lines),
        failures=failures,
        crashes=crashes,
        timeouts=timeouts,
        code_ran=any(line.get("code_ran") for line in lines),
        worst_seconds=worst["seconds"] if worst else 0.0,
        worst_case=worst["index"] if worst else None,
        peak_mb=max((line["peak_mb"] for line in lines), default=0.0),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    measure_parser = commands.add_parser("measure", help="load every hostile case in a limited subprocess")
    measure_parser.add_argument("--json", type=Path)
    measure_parser.add_argument("--only", nargs="*")
    measure_parser.add_argument("--timeout", type=float, default=120)
    fuzz_parser = commands.add_parser("fuzz", help="run the mutation fuzzer and print its summary")
    fuzz_parser.add_argument("--seed", type=int, default=0)
    fuzz_parser.add_argument("--cases", type=int, default=2000)
    one = commands.add_parser("measure-worker")
    one.add_argument("folder", type=Path)
    one.add_argument("names", nargs="+")
    worker = commands.add_parser("fuzz-worker")
    for name in ("seed", "start", "count"):
        worker.add_argument(name, type=int)
    worker.add_argument("folder")
    worker.add_argument("time_limit", type=float)
    args = parser.parse_args(argv)
    if args.command == "measure-worker":
        _measure_worker(args.folder, args.names)
    elif args.command == "fuzz-worker":
        _fuzz_worker(args.seed, args.start, args.count, args.folder, args.time_limit)
    elif args.command == "fuzz":
        started = time.monotonic()
        summary = run_fuzz(args.seed, args.cases)
        summary["wall_seconds"] = time.monotonic() - started
        print(json.dumps(summary, indent=1))
    else:
        results = measure(args.only, args.timeout)
        print(table(results))
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
