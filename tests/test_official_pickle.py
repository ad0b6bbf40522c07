"""The restricted reader of official network pickles: values come back exactly, and nothing in a file runs."""

import io
import os
import pickle
import subprocess
import sys
import types
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch
from official_layout import Persistent, fake_persistence_module

from stylegan.errors import StyleGANError
from stylegan.io.official_pickle import (
    LEGACY_MAGIC,
    LEGACY_PROTOCOL,
    InertObject,
    PersistentObject,
    read_network_pickle,
    read_network_pickle_from,
)


def _read(obj, protocol=4):
    with fake_persistence_module():
        data = pickle.dumps(obj, protocol=protocol)
    return read_network_pickle_from(io.BytesIO(data), "test.pkl")


class _Call:
    """Pickles as a call of `func(*args)`."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args

    def __call__(self, *args):  # lets a call's result be the callable of another call, as dill writes them
        raise AssertionError("only pickled, never called")


def _legacy_storage_bytes(record, keys=(), data=b"") -> bytes:
    """A legacy torch.save stream around `record`, as torch.storage._load_from_bytes expects."""
    sys_info = {"protocol_version": LEGACY_PROTOCOL, "little_endian": True}
    parts = [
        pickle.dumps(LEGACY_MAGIC),
        pickle.dumps(LEGACY_PROTOCOL),
        pickle.dumps(sys_info),
        pickle.dumps(record),
    ]
    return b"".join(parts) + pickle.dumps(list(keys)) + data


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_tensors_arrays_and_records_round_trip(protocol):
    base = torch.arange(20, dtype=torch.float32).reshape(4, 5)
    state = OrderedDict(
        _parameters=OrderedDict(weight=torch.nn.Parameter(torch.randn(3, 2)), bias=None),
        _buffers=OrderedDict(half=torch.randn(4).half(), index=torch.arange(6), view=base[1:, ::2]),
        _modules=OrderedDict(embed=torch.nn.Embedding(3, 2)),
        _init_kwargs={"channels": 8},
        size=np.broadcast_to(np.asarray(36), [2]),
        cutoff=np.float64(2.5),
        names={"a", "b"},
    )
    record = _read(
        {"G_ema": Persistent("SynthesisLayer", state, "source that is never run"), "D": None}, protocol
    )
    net = record["G_ema"]
    assert isinstance(net, PersistentObject) and net.class_name == "SynthesisLayer"
    assert net.source_length == len("source that is never run")
    read = net.state
    assert torch.equal(read["_parameters"]["weight"], state["_parameters"]["weight"].detach())
    assert read["_parameters"]["bias"] is None
    for key in ("half", "index", "view"):
        assert read["_buffers"][key].dtype == state["_buffers"][key].dtype
        assert torch.equal(read["_buffers"][key], state["_buffers"][key])
    embed = read["_modules"]["embed"]
    assert isinstance(embed, InertObject) and embed.qualname == "torch.nn.modules.sparse.Embedding"
    assert torch.equal(embed.state["_parameters"]["weight"], state["_modules"]["embed"].weight.detach())
    assert read["_init_kwargs"] == {"channels": 8}
    assert read["size"].tolist() == [36, 36] and read["cutoff"] == 2.5 and read["names"] == {"a", "b"}


@pytest.mark.parametrize(
    "payload",
    [
        lambda marker: _Call(os.system, f"touch {marker}"),
        lambda marker: _Call(eval, f"open({str(marker)!r}, 'w')"),
        lambda marker: _Call(subprocess.call, ["touch", str(marker)]),
        lambda marker: _Call(__import__, "os"),
    ],
)
@pytest.mark.parametrize("where", ["top", "in_state", "in_storage_bytes"])
def test_forbidden_globals_are_refused_before_anything_runs(tmp_path, payload, where):
    marker = tmp_path / "marker"
    exploit = payload(marker)
    if where == "top":
        obj = {"G_ema": exploit}
    elif where == "in_state":
        obj = {"G_ema": Persistent("Generator", {"_modules": {"mapping": exploit}}, "")}
    else:
        obj = {"G_ema": _Call(torch.storage._load_from_bytes, _legacy_storage_bytes(exploit))}
    with pytest.raises(StyleGANError, match="refusing to load test.pkl: it names the global") as info:
        _read(obj)
    assert "nothing from the file was run" in str(info.value)
    assert not marker.exists()


def test_forged_storage_sizes_and_layouts_are_refused():
    class StorageRef:
        def __reduce__(self):
            return torch.FloatStorage, ()

    class Pid(pickle.Pickler):
        def persistent_id(self, obj):
            return (
                ("storage", torch.FloatStorage, "0", "cpu", 4, None) if isinstance(obj, StorageRef) else None
            )

    stream = io.BytesIO()
    Pid(stream).dump(StorageRef())
    head = pickle.dumps(LEGACY_MAGIC) + pickle.dumps(LEGACY_PROTOCOL) + pickle.dumps({"little_endian": True})
    keys = pickle.dumps(["0"])
    lying = head + stream.getvalue() + keys + (10**9).to_bytes(8, "little") + bytes(16)
    with pytest.raises(StyleGANError, match="storage size does not match"):
        _read({"G": _Call(torch.storage._load_from_bytes, lying)})
    short = head + stream.getvalue() + keys + (4).to_bytes(8, "little") + bytes(8)
    with pytest.raises(StyleGANError, match="truncated"):
        _read({"G": _Call(torch.storage._load_from_bytes, short)})

    storage = torch.arange(4, dtype=torch.float32).untyped_storage()
    typed = torch.storage.TypedStorage(wrap_storage=storage, dtype=torch.float32, _internal=True)
    past_end = _Call(torch._utils._rebuild_tensor_v2, typed, 0, (100,), (1,), False, OrderedDict())
    with pytest.raises(StyleGANError, match="past the end"):
        _read({"G": past_end})


def test_object_arrays_are_refused():
    with pytest.raises(StyleGANError, match="Python objects"):
        _read({"G": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(StyleGANError, match="not callable"):
        _read({"G": _Call(np.ndarray, (1,), "O")})


def test_unsupported_persistence_version():
    obj = Persistent("Generator", {}, "")
    obj.meta["version"] = 5
    with pytest.raises(StyleGANError, match="persistence version 5 is not supported"):
        _read({"G_ema": obj})


def test_a_lone_network_object_is_returned_as_g():
    assert set(_read(Persistent("Generator", {}, ""))) == {"G"}
    with pytest.raises(StyleGANError, match="holds a list"):
        _read([1, 2])


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", b"x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(32), "PNG image"),
        (b"\xff\xd8\xff\xe0" + bytes(32), "JPEG image"),
        (_zip_bytes(), "zip archive"),
        (os.urandom(64), "not a readable network pickle"),
        (pickle.dumps({"G": torch.zeros(1000)})[:-300], "truncated or corrupt"),
    ],
)
def test_bad_files_raise_one_clear_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "network.pkl"
    path.write_bytes(content)
    with pytest.raises(StyleGANError, match=message) as info:
        read_network_pickle(path)
    assert str(path) in str(info.value)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(StyleGANError, match="no such file"):
        read_network_pickle(tmp_path / "absent.pkl")
    with pytest.raises(StyleGANError, match="is a directory"):
        read_network_pickle(tmp_path)


def test_dill_written_snapshot_structures_are_read_as_inert_records(tmp_path):
    """StyleGAN-XL writes snapshots with dill: closures, getattr chains and dill's numpy arrays appear in D."""
    marker = tmp_path / "marker"
    fake = types.ModuleType("dill._dill")
    package = types.ModuleType("dill")
    package._dill = fake

    def _create_code(*args):
        raise AssertionError("must not run")

    def _create_function(*args):
        raise AssertionError("must not run")

    def _create_array(f, args, state, npdict=None):
        raise AssertionError("must not run")

    for function in (_create_code, _create_function, _create_array):
        function.__module__, function.__qualname__ = "dill._dill", function.__name__
        setattr(fake, function.__name__, function)
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    reconstruct, args, state = array.__reduce__()
    code = _Call(_create_code, 3, b"malicious bytecode", f"open({str(marker)!r}, 'w')")
    hook = _Call(_create_function, code, {"__name__": "feature_networks.vit"}, "hook")
    bound = _Call(_Call(getattr, _Call(_create_function, code, {}, "forward_flex"), "__get__"), hook)
    snapshot = {
        "G_ema": Persistent("Generator", {"size": _Call(_create_array, reconstruct, args, state)}, ""),
        "D": {"hooks": [hook], "forward": bound},
    }
    saved = {name: sys.modules.get(name) for name in ("dill", "dill._dill")}
    sys.modules.update({"dill": package, "dill._dill": fake})
    try:
        with fake_persistence_module():
            data = pickle.dumps(snapshot, protocol=4)
    finally:
        for name, module in saved.items():
            sys.modules.pop(name) if module is None else sys.modules.__setitem__(name, module)
    read = read_network_pickle_from(io.BytesIO(data), "dill.pkl")
    np.testing.assert_array_equal(read["G_ema"].state["size"], array)
    assert isinstance(read["D"]["hooks"][0], InertObject) and isinstance(read["D"]["forward"], InertObject)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("storage_type", "dtype"), [("FloatStorage", torch.float32), ("HalfStorage", torch.float16)]
)
def test_storages_saved_on_a_gpu_load_on_the_cpu(storage_type, dtype):
    values = torch.tensor([1.5, -2.0, 3.25, 0.5], dtype=dtype)
    cuda_type = getattr(torch.cuda, storage_type)

    class Ref:
        pass

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", cuda_type, "7", "cuda:0", 4, None) if isinstance(obj, Ref) else None

    stream = io.BytesIO()
    Pickler(stream, protocol=2).dump(Ref())
    head = pickle.dumps(LEGACY_MAGIC) + pickle.dumps(LEGACY_PROTOCOL) + pickle.dumps({"little_endian": True})
    data = (
        head + stream.getvalue() + pickle.dumps(["7"]) + (4).to_bytes(8, "little") + values.numpy().tobytes()
    )
    tensor = _Call(torch._utils._rebuild_tensor_v2, _Call(torch.storage._load_from_bytes, data), 1, (3,), (1,),
                   False, OrderedDict())  # fmt: skip
    read = _read({"G": tensor})["G"]
    assert read.device.type == "cpu" and read.dtype == dtype
    assert torch.equal(read, values[1:])
