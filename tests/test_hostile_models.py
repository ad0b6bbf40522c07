"""Hostile model files end in one StyleGANError, within bounds of memory and time, and nothing in them runs.

tests/hostile_files.py builds one file per known attack (deep nesting, memo amplification, shared-reference
DAGs, sizes without weights, malformed values, text for terminals and rich markup, files that would fill a
cache) and mutates valid files of both formats for the fuzzer. Those load in a subprocess, so that a crash of
the interpreter is a failed test, not a dead test session, and under a cap on its address space. The tests
below the fixtures pin the mechanisms one by one, in this process.
"""

import gc
import io
import json
import pickle
import sys
import time
import tracemalloc
from collections import OrderedDict

import hostile_files
import pytest
import torch
from click.testing import CliRunner
from official_layout import write_official_pickle
from tiny import tiny_config, tiny_generator

import stylegan
from stylegan.errors import StyleGANError
from stylegan.io import config as config_module
from stylegan.io.config import check_config, state_numel
from stylegan.io.official_pickle import _NetworkUnpickler, read_network_pickle_from
from stylegan.io.untrusted import (
    MAX_DEPTH,
    MAX_OBJECTS,
    ByteBudget,
    ContentError,
    escape,
    excerpt,
    parse_json,
)
from stylegan.networks.generator import Generator
from stylegan.networks.growth import grow
from stylegan.networks.presets import preset_config
from stylegan_cli import main

PEAK_MB = 256  # memory a hostile file may make the loader take above the imports
CASE_SECONDS = 10  # CPU seconds one hostile file may cost
TERMINAL_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e")
# `stylegan info` on these prints the model: their text is odd, their weights fine.
# (A class name with control characters is refused outright: see tests/test_hostile_inputs.py.)
PRINTED = {"class-name-markup", "path-markup", "metadata-source-escapes"}


@pytest.fixture(scope="module")
def hostile_results():
    """Every hostile case of tests/hostile_files.py, loaded once in a memory-capped worker process."""
    return {result["case"]: result for result in hostile_files.measure(timeout=120)}


@pytest.mark.parametrize("case", [case.name for case in hostile_files.CASES])
def test_hostile_file_ends_in_one_clear_error_within_bounds(hostile_results, case):
    result = hostile_results[case]
    expected = "printed" if case in PRINTED else "StyleGANError"
    assert result["outcome"] == expected, result
    assert result["seconds"] < CASE_SECONDS, result
    assert result["peak_mb"] < PEAK_MB, result
    assert not result.get("escapes"), result
    assert result.get("retained_mb", 0) < 2, result


def test_fuzzed_files_never_run_code_crash_or_exceed_bounds():
    """A few thousand mutations of valid files of every family and both formats (and of a payload pickle)."""
    _check_fuzz(hostile_files.run_fuzz(seed=0, count=2000, time_limit=CASE_SECONDS))


@pytest.mark.slow
def test_fuzzed_files_never_run_code_crash_or_exceed_bounds_long_run():
    _check_fuzz(hostile_files.run_fuzz(seed=1, count=20_000, time_limit=CASE_SECONDS))


def _check_fuzz(summary: dict) -> None:
    assert not summary["crashes"] and not summary["timeouts"], summary
    assert not summary["code_ran"]
    assert not summary["failures"], summary["failures"][:3]
    assert summary["models"] + summary["errors"] == summary["cases"]
    assert (
        summary["models"] > 0 and summary["errors"] > summary["cases"] // 2
    )  # the mutations reach both ends
    assert summary["peak_mb"] < PEAK_MB and summary["worst_seconds"] < CASE_SECONDS, summary


# what official files need, against the limits -------------------------------------------------------------


def _official_files(tmp_path):
    generators = {
        "xl": tiny_generator("stylegan-xl"),
        "sg3r": tiny_generator("stylegan3", c_dim=0, radial=True),
        "sg2": tiny_generator("stylegan2", c_dim=3),
    }
    for name, G in generators.items():
        yield write_official_pickle(G, tmp_path / f"{name}.pkl", tmp_path / "marker")
    grown = grow(generators["xl"], head_layers=4)
    yield write_official_pickle(grown, tmp_path / "superres.pkl", tmp_path / "marker", superres=True)


def test_official_layouts_need_a_small_fraction_of_the_limits(tmp_path):
    """Depth and object counts of the official snapshot layout (G, D, G_ema, ...), measured by the reader."""
    for path in _official_files(tmp_path):
        data = path.read_bytes()
        budget = ByteBudget.for_file(len(data))
        unpickler = _NetworkUnpickler(io.BytesIO(data), budget, len(data))
        unpickler.load()
        depth = max(unpickler._depths.values())
        assert depth < MAX_DEPTH // 5, (path.name, depth)  # about 20 levels
        assert unpickler._created < MAX_OBJECTS // 200, (path.name, unpickler._created)  # about 7,000
        assert budget.used <= len(data), (path.name, budget.used)  # each storage copied once


def test_every_opcode_of_this_python_is_classified():
    """An opcode the guarded unpickler did not replace or wrap would be refused as unknown."""
    from stylegan.io.torch_storage import GuardedUnpickler

    assert set(GuardedUnpickler.dispatch) == set(pickle._Unpickler.dispatch)


def test_nesting_just_under_the_limit_loads_and_just_over_is_refused():
    def nested(levels):
        return hostile_files.snapshot_of(pickle.EMPTY_LIST * levels + pickle.APPEND * (levels - 1))

    deep = _read(nested(MAX_DEPTH - 1))["G_ema"]
    for _ in range(MAX_DEPTH - 2):
        deep = deep[0]
    assert deep == []
    with pytest.raises(
        StyleGANError, match=f"refusing to load test.pkl: it nests objects more than {MAX_DEPTH}"
    ):
        _read(nested(MAX_DEPTH + 1))


def _read(data: bytes) -> dict:
    return read_network_pickle_from(io.BytesIO(data), "test.pkl")


# one mechanism at a time ----------------------------------------------------------------------------------


def test_a_deep_tuple_key_is_refused_before_it_is_hashed():
    """400 KB of nested tuples used as a dict key crashed CPython's tuple hash (SIGSEGV) in the old reader.
    Here the depth of every tuple is known when it is built, so the key is never hashed."""
    with pytest.raises(StyleGANError, match="nests objects more than"):
        _read(hostile_files.snapshot_of(hostile_files.nested_tuple(400_000)[:-1] + pickle.TUPLE1))


def test_keys_must_be_plain_values():
    dag_key = hostile_files.HEAD + pickle.EMPTY_DICT + hostile_files.tuple_dag(40) + pickle.NONE
    started = time.process_time()
    with pytest.raises(StyleGANError, match="not a plain value"):
        _read(dag_key + pickle.SETITEM + pickle.STOP)  # hashing it would visit 2**40 tuples
    assert time.process_time() - started < 1


def test_a_storage_shared_by_many_tensors_is_copied_once():
    """Views of one memoised storage share its memory, as with torch.load: 4,000 views of a 4 MB storage in a
    4.4 MB file once asked for 16 GB of copies."""
    ops = hostile_files
    numel = 1 << 16
    values = torch.arange(numel, dtype=torch.float32)
    blob = ops.legacy_storage(values.numpy().tobytes(), numel)
    storage = ops.op_call(
        ops.op_global("torch.storage", "_load_from_bytes"), ops.op_bytes(blob)
    ) + ops.op_put(0)
    views = b"".join(ops.op_tensor(ops.op_get(0), (100,), (1,), offset=i) for i in range(0, numel, 256))
    data = ops.snapshot_of(storage + pickle.POP + pickle.EMPTY_LIST + pickle.MARK + views + pickle.APPENDS)
    budget = ByteBudget.for_file(len(data))
    read = _NetworkUnpickler(io.BytesIO(data), budget, len(data)).load()["G_ema"]
    assert len(read) == 256 and all(
        torch.equal(v, values[i * 256 : i * 256 + 100]) for i, v in enumerate(read)
    )
    assert len({view.untyped_storage().data_ptr() for view in read}) == 1
    assert budget.used <= len(data)


@pytest.mark.parametrize(
    "case", ["storage-bytes-x4000", "numpy-bytes-x4000", "latin1-str-x4000", "set-of-list-x1000", "easydict-state-x1000"]
)  # fmt: skip
def test_copies_through_memo_references_are_charged(case):
    builder = next(c for c in hostile_files.CASES if c.name == case).build
    with pytest.raises(
        StyleGANError, match="refusing to load test.pkl: it builds more than|more than the file holds"
    ):
        _read(builder())


def test_a_call_chain_of_records_keeps_its_names_short():
    """Each call of a record used to append '(...)' to its name: 50,000 chained calls, 6 GB of names."""
    data = hostile_files.snapshot_of(
        hostile_files.op_global("torch.nn", "Module") + (pickle.EMPTY_TUPLE + pickle.REDUCE) * 150
    )
    record = _read(data)["G_ema"]
    assert record.qualname == "torch.nn.Module(...)"
    with pytest.raises(StyleGANError, match="nests objects more than"):
        _read(hostile_files._inert_call_chain(50_000))


def test_excerpt_of_a_shared_reference_dag_is_short_and_immediate():
    dag = hostile_files._list_dag_value(40)  # 2**40 leaves
    started = time.process_time()
    text = excerpt({"key\x1b[2J": dag, "bytes": b"\x00" * 10**6, "big": 10**1000})
    assert time.process_time() - started < 0.1
    assert len(text) <= 81 and "\x1b" not in text
    assert excerpt(10**1000, 200) == "<a 3322-bit integer>"


@pytest.mark.parametrize("control", TERMINAL_CONTROLS)
def test_escape_keeps_terminal_controls_out(control):
    text = escape(f"name{control}]0;title\x07[/] and more", 12)
    assert not any(c in text for c in TERMINAL_CONTROLS) and text.endswith("…")
    assert escape("L3_52_1024") == "L3_52_1024"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * 100_000 + "]" * 100_000, "nests more than"),
        ('{"a": ' * 40 + "1" + "}" * 40, "nests more than"),
        ('{"a": NaN}', "not valid JSON"),
        ('{"a": Infinity}', "not valid JSON"),
        ('{"a": 1e999}', "not valid JSON"),
        ('{"a": ' + "9" * 5000 + "}", "not valid JSON"),
        ("[[[[}", "do not balance"),
        ('{"a": "[[[["}', None),
    ],
)
def test_json_from_a_file_is_bounded_before_it_is_decoded(text, problem):
    if problem is None:
        assert parse_json(text, "the config") == {"a": "[[[["}
        return
    with pytest.raises(ContentError, match=problem):
        parse_json(text, "the config")


# configs ------------------------------------------------------------------------------------------------------


def _tiny_variants() -> dict[str, dict]:
    variants = {}
    for architecture in ("stylegan-xl", "stylegan3", "stylegan2"):
        for c_dim in (0, 5):
            variants[f"{architecture}-c{c_dim}"] = tiny_config(architecture, c_dim=c_dim)
    variants["sg3-radial"] = tiny_config("stylegan3", radial=True)
    xl = tiny_config("stylegan-xl", c_dim=0)
    xl["mapping_kwargs"].update(embed_classes=7, embed_dim=12, num_layers=3, layer_features=20)
    variants["xl-unconditional-table"] = xl
    linear = tiny_config("stylegan3")
    linear["mapping_kwargs"].update(embed_features=24, layer_features=40)
    variants["sg3-linear-widths"] = linear
    for options in (
        dict(architecture="resnet"),
        dict(architecture="orig", use_noise=False, kernel_size=1),
        dict(resample_filter=[1, 2, 3, 4, 4, 3, 2, 1]),
    ):
        config = tiny_config("stylegan2", c_dim=3)
        config["synthesis_kwargs"].update(options)
        variants[f"sg2-{'-'.join(map(str, options.values()))}"] = config
    variants["xl-grown"] = grow(tiny_generator("stylegan-xl"), head_layers=4).config
    return variants


@pytest.mark.parametrize("config", list(_tiny_variants().values()), ids=list(_tiny_variants()))
def test_state_numel_is_the_size_of_the_real_state_dict(config):
    assert check_config(config) == config
    G = Generator(**config)
    assert state_numel(config) == sum(t.numel() for t in G.state_dict().values())


@pytest.mark.parametrize(
    "name", ["stylegan-xl-tiny", "stylegan-xl-256", "stylegan3-r-1024", "stylegan2-1024"]
)
def test_state_numel_of_the_published_layouts(name):
    config = check_config(preset_config(name))
    if name.startswith("stylegan2"):  # its filters are made on the CPU, which a meta device cannot copy from
        G = Generator(**config)
    else:
        with torch.device("meta"):
            G = Generator(**config)
    assert state_numel(config) == sum(t.numel() for t in G.state_dict().values())


def test_the_schema_knows_every_constructor_option():
    """A new constructor option must get a range here, or files using it would be refused."""
    import inspect

    from stylegan.networks.mapping import MappingNetwork
    from stylegan.networks.stylegan2 import StyleGAN2Synthesis

    def options(cls, *skip):
        return set(inspect.signature(cls.__init__).parameters) - {"self", *skip}

    assert options(MappingNetwork, "z_dim", "c_dim", "w_dim", "num_ws") == set(config_module._MAPPING)
    assert options(StyleGAN2Synthesis, "w_dim", "img_resolution", "img_channels") == set(
        config_module._STYLEGAN2
    )


def _edit(path: str, value, architecture="stylegan-xl", **siblings):
    """The tiny config with the value at a dotted path replaced (and more values set next to it)."""
    config = tiny_config(architecture)
    node = config
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[int(keys[-1]) if isinstance(node, list) else keys[-1]] = value
    node.update(siblings)
    return config


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (_edit("z_dim", -1), r"config.z_dim = -1 is out of range"),
        (_edit("w_dim", 32.5), r"config.w_dim must be an integer, not 32.5"),
        (_edit("w_dim", True), r"config.w_dim must be an integer"),
        (_edit("z_dim", 10**30), r"config.z_dim = 1000000000000000000000000000000 is out of range"),
        (_edit("mapping_kwargs.num_layers", 100_000), r"num_layers = 100000 is out of range"),
        (_edit("mapping_kwargs.layer_features", 10**9), r"layer_features = 1000000000 is out of range"),
        (_edit("mapping_kwargs.bogus", 1), r"unknown option 'bogus'"),
        (
            _edit("synthesis_kwargs.layers.0.name", "L0_[/]\x1b"),
            r"layer name like L3_52_1024, not 'L0_\[/\]\\x1b'",
        ),
        (
            _edit("synthesis_kwargs.layers.1.in_channels", 7),
            r"in_channels = 7 does not match the output of L0_",
        ),
        (_edit("synthesis_kwargs.layers.0.in_sampling_rate", 0), r"in_sampling_rate = 0 is out of range"),
        (_edit("synthesis_kwargs.input.sampling_rate", float("inf")), r"sampling_rate = inf is out of range"),
        (
            _edit("synthesis_kwargs.layers.0.filter_size", 64, lrelu_upsampling=16),
            r"filters of more than 512 taps",
        ),
        (
            _edit("synthesis_kwargs.num_fp16_res", -(10**9), "stylegan2"),
            r"num_fp16_res = -1000000000 is out of range",
        ),
        (_edit("img_resolution", 24, "stylegan2"), r"must be a power of two"),
        (_edit("mapping_kwargs.embed_classes", 2), r"embed_classes = 2 is less than c_dim = 5"),
        ([], r"config must be a JSON object"),
    ],
)
def test_check_config_names_the_bad_value(config, problem):
    with pytest.raises(ContentError, match=problem):
        check_config(config)


def test_a_checkpoint_stating_sizes_without_weights_is_refused_before_building(tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr(config_module, "Generator", lambda **kwargs: built.append(kwargs))
    for case in ("st-layer-features-30000", "st-mapping-layers-100000", "st-z-dim-1e9"):
        path = tmp_path / f"{case}.safetensors"
        path.write_bytes(next(c for c in hostile_files.CASES if c.name == case).build())
        with pytest.raises(StyleGANError, match="out of range|do not match the config"):
            stylegan.load(path)
    assert not built


def test_a_pickle_stating_a_wider_w_than_its_weights_is_refused_before_building(monkeypatch):
    built = []
    monkeypatch.setattr(config_module, "Generator", lambda **kwargs: built.append(kwargs))
    data = hostile_files.edited_official(lambda G: G.state.update(w_dim=3000))
    with pytest.raises(StyleGANError, match="do not fit the stylegan-xl layout.*weights, the file"):
        _load_pickle_bytes(data)
    assert not built


def _load_pickle_bytes(data: bytes, tmp_name: str = "net.pkl"):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / tmp_name
        path.write_bytes(data)
        return stylegan.load(path)


# text from files ----------------------------------------------------------------------------------------------


def test_refusal_messages_quote_file_text_escaped_and_bounded():
    name = "system\x1b[2J\x1b]0;pwned\x07" + "x" * 400
    data = hostile_files.snapshot_of(hostile_files.op_global("os\x9b31m", name))
    with pytest.raises(StyleGANError) as info:
        _read(data)
    message = str(info.value)
    assert message.startswith("refusing to load test.pkl: it names the global os\\x9b31m.system\\x1b[2J")
    assert not any(c in message for c in TERMINAL_CONTROLS) and len(message) < 400


def test_info_prints_names_from_the_file_as_data(tmp_path):
    def edit(G):
        G.meta["class_name"] = "Gen[/]\x1b[2J[bold]"

    folder = tmp_path / "model[/]"
    folder.mkdir(parents=True)
    path = folder / "net[red].pkl"
    path.write_bytes(hostile_files.edited_official(edit))
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 0, result.output
    assert "model[/]/net[red].pkl" in result.output
    assert "Gen[/]\\x1b[2J[bold]" in result.output
    assert not any(c in result.output for c in TERMINAL_CONTROLS)


# what a refused file leaves behind ------------------------------------------------------------------------------


def test_a_refused_file_leaves_nothing_behind():
    """The reader once kept one class per pickled name in a module-wide cache: 200,000 names, 677 MB."""
    data = hostile_files._many_names(20_000)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        with pytest.raises(StyleGANError, match="it names the global os.system"):
            _read(data)
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert retained < 256 << 10, retained
    assert not any(name.startswith("_inert") for name in vars(sys.modules["stylegan.io.official_pickle"]))


def test_a_kept_error_does_not_keep_the_records_alive(tmp_path):
    """A GUI keeps the last error; its traceback must not hold the half-read file."""
    path = tmp_path / "net.pkl"
    path.write_bytes(hostile_files.edited_official(lambda G: G.state.update(w_dim=3000)))
    try:
        stylegan.load(path)
    except StyleGANError as error:
        kept = error
    frames = []
    traceback = kept.__traceback__
    while traceback is not None:
        frames.append(traceback.tb_frame)
        traceback = traceback.tb_next
    held = [value for frame in frames for value in frame.f_locals.values()]
    assert not any(isinstance(value, dict) and "G_ema" in value for value in held)
    assert kept.__context__ is None


def test_metadata_that_the_gui_reads_must_have_its_type(tmp_path):
    G = tiny_generator()
    path = stylegan.save(G, tmp_path / "model.safetensors")
    header, body = hostile_files.split_safetensors(path.read_bytes())
    header["__metadata__"]["metadata"] = json.dumps({"class_names": 5})
    path.write_bytes(hostile_files.join_safetensors(header, body))
    with pytest.raises(StyleGANError, match="class_names is 5, not a list of names"):
        stylegan.load(path)


def test_the_official_layout_still_loads_through_every_path(tmp_path):
    """The limits leave real files alone: both formats, all families, superres, OrderedDict module trees."""
    for path in _official_files(tmp_path):
        G = stylegan.load(path)
        again = stylegan.load(stylegan.save(G, tmp_path / f"{path.stem}.safetensors"))
        assert again.config == G.config
        state = OrderedDict(G.state_dict())
        assert all(torch.equal(state[k], v) for k, v in again.state_dict().items())
    assert not (tmp_path / "marker").exists()
