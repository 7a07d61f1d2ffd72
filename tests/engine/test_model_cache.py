"""The conversion cache: which entries open_model still uses, and `glm-nb cache` listing and clearing the rest."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import time

import pytest

from glm_nb.cli import main
from glm_nb.engine import convert, loading, model_cache
from glm_nb.engine.loading import converted_path, entry_names, open_model
from glm_nb.engine.model_cache import STATES, cached_models, clear_cache
from glm_nb.errors import GlmError


def states(cache_folder=None) -> dict[str, str]:
    return {e.name: e.state for e in cached_models(cache_folder)}


def test_a_conversion_open_model_uses_is_current_with_its_source_and_size(cache, ckpt):
    engine = open_model(ckpt, device="cpu", progress=False)

    [entry] = cached_models()
    assert entry.path == engine.folder and entry.state == "current"
    assert entry.source == str(ckpt.resolve()) and entry.precision == "fp32" and entry.max_length == 256
    assert entry.size == sum(f.stat().st_size for f in engine.folder.iterdir())


def test_a_changed_checkpoint_leaves_an_outdated_conversion_and_open_model_says_so(cache, ckpt, capsys):
    first = open_model(ckpt, device="cpu", progress=False).folder
    config = ckpt / "config.json"
    later = config.stat().st_mtime_ns + 5_000_000_000
    os.utime(config, ns=(later, later))  # the checkpoint was updated (a new revision downloaded, say)

    second = open_model(ckpt, device="cpu").folder

    assert second != first
    assert states() == {first.name: "outdated", second.name: "current"}
    note = capsys.readouterr().err
    assert f"1 earlier conversion of {ckpt.name}" in note and "`glm-nb cache clear`" in note
    assert open_model(ckpt, device="cpu").folder == second  # loading the current one again says nothing
    assert "earlier" not in capsys.readouterr().err


def _touch(path) -> None:
    later = path.stat().st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(later, later))


def _no_conversion(*args, **kwargs):
    raise AssertionError("converted again")


def test_a_file_the_conversion_does_not_read_changes_nothing(cache, ckpt, monkeypatch):
    first = open_model(ckpt, device="cpu", progress=False).folder
    (ckpt / "README.md").write_text("# GLM-4 notes\n")  # a model card pulled, a notebook saved beside the weights
    (ckpt / "Untitled.ipynb").write_text("{}")
    (ckpt / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    monkeypatch.setattr(loading, "convert", _no_conversion)

    again = open_model(ckpt, device="cpu", progress=False).folder

    assert again == first and states() == {first.name: "current"}


@pytest.mark.parametrize("name", ["model.safetensors", "tokenizer.json", "generation_config.json", "config.json"])
def test_a_file_the_conversion_reads_converts_again(cache, ckpt, name):
    first = open_model(ckpt, device="cpu", progress=False).folder
    _touch(ckpt / name)

    again = open_model(ckpt, device="cpu", progress=False).folder

    assert again != first and states() == {first.name: "outdated", again.name: "current"}


def _named_as_before(ckpt, cache):
    """A conversion as a glm-nb from before 2026-11-29 made it (named by every file of the folder, a README too);
    returns today's name and that one."""
    (ckpt / "README.md").write_text("# GLM-4 notes\n")
    today, before = entry_names(ckpt, "fp32", None)
    convert(ckpt, cache / before, progress=False)
    return today, before


def test_a_conversion_named_as_before_keeps_its_name_and_gets_todays_as_a_link(cache, ckpt, monkeypatch):
    today, before = _named_as_before(ckpt, cache)
    assert states() == {before: "current"}  # what `glm-nb cache` says of it: it loads
    monkeypatch.setattr(loading, "convert", _no_conversion)

    engine = open_model(ckpt, device="cpu", progress=False)

    assert engine.folder == cache / before and os.readlink(cache / today) == before  # never renamed
    _touch(ckpt / "README.md")  # no longer named for today's files: found through the link
    assert open_model(ckpt, device="cpu", progress=False).folder == cache / before
    assert states() == {before: "current", today: "alias"}
    [alias] = [e for e in cached_models() if e.state == "alias"]
    assert alias.size == 0 and alias.why.startswith(f"another name for {before} (current)")


def test_the_cache_listing_counts_an_alias_apart_from_the_conversions(cache, ckpt, capsys):
    today, before = _named_as_before(ckpt, cache)
    open_model(ckpt, device="cpu", progress=False)

    assert main(["cache"]) == 0

    said = capsys.readouterr().out
    assert said.startswith(f"{cache}: 1 conversion (and 1 alias, a link to one), "), said
    assert re.search(rf"^alias +0\.0 MB +fp32 +256 +{today}\n +another name for {before} ", said, re.M), said


def test_an_alias_does_not_claim_an_older_glm_nb_finds_its_entry_once_other_files_changed(cache, ckpt):
    """An older glm-nb hashes every file of the checkpoint folder: after a README edit it no longer finds the entry
    by that name, so the listing must not say it does."""
    today, before = _named_as_before(ckpt, cache)
    open_model(ckpt, device="cpu", progress=False)
    (ckpt / "README.md").write_text("edited after the conversion")

    alias = next(e for e in cached_models() if e.name == today)

    assert alias.state == "alias" and before in alias.why and "finds it" not in alias.why


def test_an_older_glm_nb_still_finds_and_loads_its_entry_after_this_one_opened_it(cache, ckpt):
    today, before = _named_as_before(ckpt, cache)
    open_model(ckpt, device="cpu", progress=False)

    src = ckpt.resolve()  # an older glm-nb looks its entry up by the hash of every file (it skips links)
    older_lookup = loading._entry_name(src, [f for f in sorted(src.iterdir()) if f.is_file()], "fp32", None)
    assert older_lookup == before and (cache / before).is_dir() and not (cache / before).is_symlink()
    assert open_model(cache / before, device="cpu").folder == cache / before  # a path copied from a card loads


def test_a_conversion_an_older_glm_nb_made_beside_todays_is_not_cleared(cache, ckpt):
    """Both share the cache: clearing the older glm-nb's copy would only make it convert again (18 GB)."""
    today, before = _named_as_before(ckpt, cache)
    convert(ckpt, cache / today, progress=False)  # this glm-nb converted first, then the older one did

    entries = {e.name: e for e in cached_models()}

    assert {n: e.state for n, e in entries.items()} == {before: "current", today: "current"}
    assert entries[before].why == f"what a glm-nb from before 2026-11-29 loads (this one loads {today})"
    assert clear_cache() == []


def test_clearing_an_alias_removes_only_the_link_and_clearing_its_entry_removes_both(cache, ckpt):
    today, before = _named_as_before(ckpt, cache)
    open_model(ckpt, device="cpu", progress=False)
    assert clear_cache() == []  # neither is cleared by default

    assert [e.name for e in clear_cache([today])] == [today]

    assert (cache / before / "model.onnx").is_file() and not (cache / today).is_symlink()
    open_model(ckpt, device="cpu", progress=False)  # made again
    assert [(e.name, e.state) for e in clear_cache([before])] == [(before, "current"), (today, "alias")]
    assert [p.name for p in cache.iterdir() if not p.name.startswith(".")] == []  # lock files aside


def test_cache_clear_all_through_the_command_line_removes_an_entry_once(cache, ckpt, capsys):
    today, before = _named_as_before(ckpt, cache)
    open_model(ckpt, device="cpu", progress=False)

    assert main(["cache", "clear", "--all"]) == 0

    said = capsys.readouterr().out
    assert f"removed {before} (current, " in said and f"removed {today} (alias, 0.0 MB)" in said
    assert not (cache / before).exists() and not (cache / today).is_symlink()


def test_a_link_whose_entry_went_is_damaged_and_open_model_converts_in_its_place(cache, ckpt):
    today, before = _named_as_before(ckpt, cache)
    open_model(ckpt, device="cpu", progress=False)
    shutil.rmtree(cache / before)  # an older glm-nb's `cache clear`, after the README changed

    assert states() == {today: "damaged"}
    engine = open_model(ckpt, device="cpu", progress=False)

    assert engine.folder == cache / today and not (cache / today).is_symlink()
    assert states() == {today: "current"}


@pytest.mark.parametrize("fails", ["link", "lock"])
def test_where_no_link_can_be_made_the_entry_loads_under_its_old_name(cache, ckpt, monkeypatch, fails):
    """Windows without the right to make links, or a read-only cache (shared, or on a read-only mount)."""
    today, before = _named_as_before(ckpt, cache)
    monkeypatch.setattr(loading, "convert", _no_conversion)

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    if fails == "link":
        monkeypatch.setattr(type(cache), "symlink_to", refused)
    else:
        monkeypatch.setattr(loading.FolderLock, "acquire", refused)

    engine = open_model(ckpt, device="cpu", progress=False)

    assert engine.folder == cache / before and not (cache / today).exists() and not (cache / today).is_symlink()
    assert states() == {before: "current"}


def test_an_entry_named_as_before_is_outdated_once_an_unrelated_file_changed(cache, ckpt):
    """The old name hashed every file, so after a README change it no longer tells whether the weights did:
    open_model converts again, and `glm-nb cache` says it will."""
    (ckpt / "README.md").write_text("# GLM-4 notes\n")
    before = entry_names(ckpt, "fp32", None)[1]
    convert(ckpt, cache / before, progress=False)
    _touch(ckpt / "README.md")

    assert states() == {before: "outdated"}
    assert open_model(ckpt, device="cpu", progress=False).folder == converted_path(ckpt, "fp32", None)


def test_a_conversion_by_another_graph_format_is_outdated(cache, ckpt):
    folder = open_model(ckpt, device="cpu", progress=False).folder
    meta = json.loads((folder / "glm_nb.json").read_text())
    (folder / "glm_nb.json").write_text(json.dumps({**meta, "format_version": 0}))

    [entry] = cached_models()
    assert entry.state == "outdated" and "graph format 0" in entry.why


def test_a_conversion_an_earlier_glm_nb_made_for_a_context_is_current_until_a_longer_one_serves(cache, ckpt, capsys):
    short = convert(ckpt, converted_path(ckpt, "fp32", 64), max_length=64, progress=False)  # as before 2026-11-29
    longer = convert(ckpt, converted_path(ckpt, "fp32", 128), max_length=128, progress=False)
    assert open_model(ckpt, device="cpu", max_length=64, progress=False).folder == longer
    assert states() == {short.name: "outdated", longer.name: "current"}

    full = open_model(ckpt, device="cpu", max_length=200).folder  # converts at the full 256

    entries = {e.name: e for e in cached_models()}
    assert {name: e.state for name, e in entries.items()} == {
        short.name: "outdated", longer.name: "outdated", full.name: "current"
    }  # fmt: skip
    assert entries[longer.name].why == f"open_model loads {full.name} instead, which holds up to 256 tokens"
    assert "2 earlier conversions of ckpt" in capsys.readouterr().err  # and `glm-nb cache clear` frees them
    assert sorted(e.name for e in clear_cache()) == sorted([short.name, longer.name])


def test_a_conversion_for_the_full_length_named_with_it_gives_way_to_the_one_named_without(cache, ckpt):
    named_256 = convert(ckpt, converted_path(ckpt, "fp32", 256), max_length=256, progress=False)
    assert states() == {named_256.name: "current"}

    full = open_model(ckpt, device="cpu", progress=False).folder

    assert full == named_256  # the same conversion: not made again
    convert(ckpt, converted_path(ckpt, "fp32", None), progress=False)  # both there: one is loaded, one is not
    assert states() == {named_256.name: "outdated", converted_path(ckpt, "fp32", None).name: "current"}


def test_orphaned_partial_converting_and_damaged_entries(cache, ckpt):
    kept = open_model(ckpt, device="cpu", progress=False).folder
    moved = shutil.copytree(ckpt, ckpt.parent / "gone")
    orphan = open_model(moved, device="cpu", progress=False).folder
    shutil.rmtree(moved)
    partial = cache / f".{kept.name}.partial-abc123"
    partial.mkdir()
    (partial / "model.onnx.data").write_bytes(b"0" * 100)
    hour_ago = time.time() - 3600
    for path in (partial / "model.onnx.data", partial):
        os.utime(path, (hour_ago, hour_ago))
    converting = cache / ".other.partial-def456"
    converting.mkdir()
    (converting / "model.onnx.data").write_bytes(b"1")
    damaged = cache / "broken-fp32-0123456789ab"
    damaged.mkdir()
    (damaged / "glm_nb.json").write_text("{not json")

    assert states() == {
        kept.name: "current", orphan.name: "orphaned", partial.name: "partial", converting.name: "converting",
        damaged.name: "damaged",
    }  # fmt: skip
    assert [e.size for e in cached_models() if e.state == "partial"] == [100]
    whys = {e.state: e.why for e in cached_models()}
    assert whys["partial"] == "left by an interrupted conversion"
    assert whys["converting"] == "a conversion is writing it now"  # not "interrupted": it must not be removed


def test_a_conversion_without_its_model_onnx_is_damaged_not_current(cache, ckpt):
    folder = open_model(ckpt, device="cpu", progress=False).folder
    (folder / "model.onnx").unlink()

    [entry] = cached_models()

    assert entry.state == "damaged" and entry.why == "its model.onnx is missing"
    assert [e.name for e in clear_cache()] == [folder.name]


def test_clear_removes_what_is_no_longer_used_and_keeps_the_rest(cache, ckpt):
    test_orphaned_partial_converting_and_damaged_entries(cache, ckpt)
    before = states()

    would = clear_cache(dry_run=True)
    assert sorted(e.state for e in would) == ["damaged", "partial"] and states() == before

    removed = clear_cache()
    assert sorted(e.state for e in removed) == ["damaged", "partial"]
    assert sorted(states().values()) == ["converting", "current", "orphaned"]

    clear_cache(states=("orphaned",))
    assert sorted(states().values()) == ["converting", "current"]


def test_clear_by_name_and_its_errors(cache, ckpt):
    folder = open_model(ckpt, device="cpu", progress=False).folder
    converting = cache / ".x.partial-1"
    converting.mkdir()

    with pytest.raises(GlmError, match="No cached conversion named 'nope'"):
        clear_cache(["nope"])
    with pytest.raises(GlmError, match="still running"):
        clear_cache([converting.name])
    with pytest.raises(GlmError, match="Unknown cache state"):
        clear_cache(states=("old",))
    assert [e.name for e in clear_cache([folder.name])] == [folder.name] and not folder.exists()


def test_an_empty_or_missing_cache_lists_nothing(cache):
    assert cached_models() == [] and clear_cache() == []


def test_glm_nb_cache_lists_and_clears(cache, ckpt, capsys):
    first = open_model(ckpt, device="cpu", progress=False).folder
    config = ckpt / "config.json"
    later = config.stat().st_mtime_ns + 5_000_000_000
    os.utime(config, ns=(later, later))
    second = open_model(ckpt, device="cpu", progress=False).folder

    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert "2 conversions" in out and "current" in out and first.name in out and second.name in out
    assert f"from {ckpt.resolve()}" in out and "`glm-nb cache clear` frees" in out

    assert main(["cache", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {c["name"]: c["state"] for c in listed["conversions"]} == {first.name: "outdated", second.name: "current"}

    assert main(["cache", "clear", "--dry-run"]) == 0
    assert f"would remove {first.name} (outdated" in capsys.readouterr().out and first.exists()
    assert main(["cache", "clear"]) == 0
    assert f"removed {first.name}" in capsys.readouterr().out and not first.exists() and second.exists()
    assert main(["cache", "clear"]) == 0
    assert "nothing to remove" in capsys.readouterr().out

    assert main(["cache", "clear", "--all"]) == 0
    assert cached_models() == []


@pytest.mark.parametrize(
    "argv, match",
    [
        (["cache", "clear", "--all", "x"], "--all removes every conversion"),
        (["cache", "clear", "--orphaned", "x"], "not both"),
        (["cache", "clear", "nope"], "No cached conversion named 'nope'"),
    ],
)
def test_glm_nb_cache_refuses_mixed_up_arguments(cache, ckpt, argv, match, capsys):
    open_model(ckpt, device="cpu", progress=False)
    assert main(argv) == 2
    assert match in capsys.readouterr().err
    assert len(cached_models()) == 1  # nothing removed


def test_a_link_in_the_cache_is_left_alone_and_a_failed_removal_says_why(cache, ckpt, tmp_path, monkeypatch):
    folder = open_model(ckpt, device="cpu", progress=False).folder
    elsewhere = shutil.copytree(folder, tmp_path / "mine")
    (cache / "linked").symlink_to(elsewhere)
    assert [e.name for e in cached_models()] == [folder.name]
    assert clear_cache(states=("current",)) and elsewhere.exists()

    open_model(ckpt, device="cpu", progress=False)

    def refuse(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(shutil, "rmtree", refuse)
    with pytest.raises(GlmError, match="Could not remove .*Permission denied"):
        clear_cache(states=("current",))


def test_folders_the_cache_did_not_make_are_neither_listed_nor_removed(cache, ckpt, tiny):
    folder = open_model(ckpt, device="cpu", progress=False).folder
    kept = shutil.copytree(tiny.src, cache / "GLM-4-9B-0414")  # a checkpoint kept in the cache folder
    named_like_an_entry = shutil.copytree(tiny.src, cache / "mine-0123456789ab")
    converted = shutil.copytree(folder, cache / "glm4-int4")  # `glm-nb convert CKPT -o .../models/glm4-int4`
    (cache / "notes.txt").write_text("mine")

    assert [e.name for e in cached_models()] == [folder.name]
    clear_cache(states=STATES)
    assert kept.exists() and named_like_an_entry.exists() and converted.exists() and not folder.exists()


def test_a_checkpoint_opened_through_a_link_or_as_dot_is_current(cache, ckpt, monkeypatch, capsys):
    link = ckpt.parent / "mymodel"
    link.symlink_to(ckpt)
    through_link = open_model(link, device="cpu").folder
    monkeypatch.chdir(ckpt)
    as_dot = open_model(".", device="cpu").folder

    assert through_link == as_dot and through_link.name.startswith(f"{ckpt.name}-fp32-")
    assert states() == {through_link.name: "current"}
    assert "earlier" not in capsys.readouterr().err


def test_a_conversion_recorded_with_a_relative_checkpoint_path_is_unknown_and_kept(cache, ckpt, capsys):
    folder = open_model(ckpt, device="cpu", progress=False).folder
    meta = json.loads((folder / "glm_nb.json").read_text())
    meta["source"]["path"] = "ckpt"  # what glm-nb recorded before it resolved the path
    (folder / "glm_nb.json").write_text(json.dumps(meta))

    [entry] = cached_models()
    assert entry.state == "unknown" and "relative path 'ckpt'" in entry.why
    assert clear_cache(states=("outdated", "partial", "damaged", "orphaned")) == [] and folder.exists()
    assert main(["cache"]) == 0 and "`glm-nb cache clear NAME` removes one" in capsys.readouterr().out


def test_an_earlier_revision_of_a_hub_download_is_outdated(cache, tiny, tmp_path, capsys):
    repo = tmp_path / "hub" / "models--THUDM--GLM-4-9B-0414"
    (repo / "refs").mkdir(parents=True)
    first, second = (shutil.copytree(tiny.src, repo / "snapshots" / rev) for rev in ("a" * 40, "b" * 40))
    (repo / "refs" / "main").write_text("a" * 40)
    old = open_model(first, device="cpu").folder
    assert states() == {old.name: "current"}

    (repo / "refs" / "main").write_text("b" * 40)  # a newer revision was downloaded
    new = open_model(second, device="cpu").folder

    entries = {e.name: e for e in cached_models()}
    assert entries[old.name].state == "outdated" and entries[new.name].state == "current"
    assert entries[old.name].why == "a newer revision of THUDM/GLM-4-9B-0414 was downloaded since"
    assert "1 earlier conversion of THUDM/GLM-4-9B-0414 (" in capsys.readouterr().err  # not of its revision hash


def test_an_entry_that_goes_while_listing_is_skipped(cache, ckpt, monkeypatch):
    folder = open_model(ckpt, device="cpu", progress=False).folder
    leftover = cache / f".{folder.name}.partial-abc123"
    leftover.mkdir()
    real_size = model_cache._size

    def renamed_meanwhile(path):
        if path == leftover:
            shutil.rmtree(leftover)
        return real_size(path)

    monkeypatch.setattr(model_cache, "_size", renamed_meanwhile)
    assert [e.name for e in cached_models()] == [folder.name]


def test_a_removal_failing_partway_still_reports_what_went_before(cache, ckpt, capsys, monkeypatch):
    for index in range(2):
        partial = cache / f".x{index}.partial-abc"
        partial.mkdir(parents=True)
        os.utime(partial, (0, 0))
    real = shutil.rmtree

    def second_fails(path, *args, **kwargs):
        if path.name.startswith(".x1"):
            raise PermissionError(13, "Permission denied")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", second_fails)
    assert main(["cache", "clear"]) == 2
    out = capsys.readouterr()
    assert "removed .x0.partial-abc (partial" in out.out and "Could not remove" in out.err


def test_a_checkpoint_in_a_chinese_folder_converts_and_lists_under_a_gbk_locale(cache, tiny, tmp_path, monkeypatch):
    # Chinese Windows' locale encoding is GBK: glm_nb.json written in it could not be read back as UTF-8, and the
    # conversion was "damaged" however often it was made again.
    monkeypatch.setattr("io.text_encoding", lambda encoding, stacklevel=2: encoding or "gbk")  # the locale's
    ckpt = shutil.copytree(tiny.src, tmp_path / "模型" / "glm4")

    engine = open_model(ckpt, device="cpu", progress=False)

    [entry] = cached_models()
    assert engine.metadata.source["path"] == str(ckpt.resolve())
    assert entry.state == "current" and entry.source == str(ckpt.resolve())


def test_cache_list_json_keeps_chinese_paths_exact_on_a_stdout_that_cannot_encode_them(cache, tiny, tmp_path,
                                                                                      monkeypatch):  # fmt: skip
    ckpt = shutil.copytree(tiny.src, tmp_path / "模型")
    open_model(ckpt, device="cpu", progress=False)
    raw = io.BytesIO()
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(raw, encoding="latin-1", write_through=True))

    assert main(["cache", "list", "--json"]) == 0

    [entry] = json.loads(raw.getvalue().decode("ascii"))["conversions"]  # escaped, not "??"
    assert entry["source"] == str(ckpt.resolve()) and entry["name"].startswith("模型-fp32-")
