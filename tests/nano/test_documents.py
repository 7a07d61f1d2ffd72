"""Rumination examples over generated documents: their observations are what the research loop shows for the
same files searched with LocalCorpus, and every example fits the model's context."""

from __future__ import annotations

import random
from pathlib import PurePosixPath

import pytest
from tokenizers import Tokenizer

from glm_nb.chat.research import LocalCorpus, read_document
from glm_nb.chat.research.search import SearchResult
from glm_nb.nano import checkpoint_path, corpus
from glm_nb.nano.checks import grade
from glm_nb.nano.documents import NOTEBOOK_CORPUS, local_results, notebook_results
from glm_nb.nano.sample import Mix, Picker
from glm_nb.nano.skills import generate
from glm_nb.nano.train import _MAX_LEN_LOCAL_RESEARCH, _Batches
from glm_nb.nano.vocab import TRAIN


def _draw(seed: int, lang: str):
    rng = random.Random(seed)
    topics = TRAIN[f"topic_{lang}"]
    topic = rng.choice(topics)
    return topic, local_results(rng, lang, topic, [t for t in topics if t != topic])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_results_are_what_local_corpus_shows_for_the_same_files(lang, tmp_path):
    checked = 0
    for seed in range(40):
        topic, found = _draw(seed, lang)
        folder = tmp_path / f"{lang}{seed}"
        folder.mkdir()
        files = {}
        for doc in found.documents:
            if doc.url.startswith("file://"):
                name = PurePosixPath(doc.url).name
                (folder / name).write_text(doc.text, encoding="utf-8")
                files[name] = doc
        if not files:
            continue
        shown = {PurePosixPath(r.url).name: r for r in LocalCorpus(folder).search(topic, limit=5)}
        for name, doc in files.items():
            if name in shown:  # BM25 leaves out a document that shares no word with the query
                ours = found.observation.split(f"†{doc.url}\n", 1)[1].split("】", 1)[0]
                assert (shown[name].title, shown[name].snippet) == (doc.title, ours), name
                checked += 1
            assert read_document(folder / name).text == doc.text  # what a click returns
        hit = found.documents[found.hit]
        assert found.page == hit.text and found.title == hit.title
        if hit.url.startswith("file://"):
            assert PurePosixPath(hit.url).name in shown  # the document about the topic is always found
    assert checked >= 20


def test_results_are_numbered_and_joined_as_the_research_loop_does():
    for seed in range(20):
        _, found = _draw(seed, "en")
        blocks = found.observation.split("\n\n【")
        assert len(blocks) == len(found.documents) and 0 <= found.hit < len(blocks)
        results = [SearchResult(d.title, d.url, "") for d in found.documents]
        for i, (block, result) in enumerate(zip(blocks, results)):
            assert block.lstrip("【").startswith(f"{i}†{result.title}†{result.url}\n")


def test_the_result_about_the_topic_is_at_any_place_not_mostly_first():
    # With it first more often than not, and the notebook's top result always the page to open, a model asked
    # about the topic of result 1 clicked result 0: the place must be learnt from the titles, not from a prior.
    hits, sizes = [], []
    for seed in range(400):
        _, found = _draw(seed, "en" if seed % 2 else "zh")
        hits.append(found.hit)
        sizes.append(len(found.documents))
    several = [h for h, n in zip(hits, sizes) if n >= 3]
    assert len(several) > 150
    share_first = several.count(0) / len(several)
    assert 0.2 < share_first < 0.45, share_first
    assert all(several.count(place) > 20 for place in (1, 2))
    assert sum(n == 1 for n in sizes) / len(sizes) < 0.25  # one result teaches no choice


def test_local_research_changes_only_rumination_and_only_when_asked():
    rng = random.Random(4)
    web = [generate("research", Picker(rng, "train")) for _ in range(30)]
    assert all("https://docs.example.org/" in s.messages[3]["content"] for s in web)
    local = [generate("research", Picker(rng, "train", local_research=1.0)) for _ in range(30)]
    assert not any("https://docs.example.org/" in s.messages[3]["content"] for s in local)
    assert any("file://" in s.messages[3]["content"] for s in local)
    held_out = corpus.eval_samples("research", "unseen", 5, local_research=1.0)
    assert all("docs.example.org" not in s.messages[3]["content"] for s in held_out)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_report_names_the_page_it_clicked(lang):
    rng = random.Random(lang)
    for _ in range(30):
        sample = generate("research", Picker(rng, "train", local_research=1.0))
        if sample.lang != lang:
            continue
        page, report = sample.messages[5]["content"], sample.messages[7]["content"]
        hit = sample.expect["calls"][1][1]["link_id"]
        thought, report = report.split("</think>\n")  # the loop forces thinking, before the report too
        assert thought.startswith("<think>") and str(hit) in thought
        topic = sample.expect["calls"][0][1]["query"]
        prefix = f"关于{topic}的报告：" if lang == "zh" else f"Report on {topic}: "
        assert report.startswith(prefix) and report.endswith(f"【{hit}†source】")
        title = report[len(prefix) : -len(f"【{hit}†source】")].removeprefix("see ").removeprefix("参见")[1:-1]
        assert f"【{hit}†{title}†" in sample.messages[3]["content"]  # the title of the result it clicked
        assert page.startswith(f"# {title}\n") or f"# {title}\n" not in page


def test_every_local_research_example_fits_the_context():
    tokenizer = Tokenizer.from_file(str(checkpoint_path() / "tokenizer.json"))
    rng = random.Random(11)
    lengths = []
    for _ in range(400):
        sample = generate("research", Picker(rng, "train", local_research=1.0))
        text = "".join(t for t, _ in corpus.to_segments(sample))
        lengths.append(len(tokenizer.encode(text, add_special_tokens=False).ids))
    assert max(lengths) <= _MAX_LEN_LOCAL_RESEARCH, max(lengths)
    assert sorted(lengths)[len(lengths) // 2] > 500  # as long as the notebook's demo (~770 tokens), not shorter


def test_the_trainer_keeps_local_research_examples_whole():
    # The first recipe cut examples at 512 tokens; a cut research example would lose the report it teaches.
    tokenizer = Tokenizer.from_file(str(checkpoint_path() / "tokenizer.json"))
    batches = _Batches(tokenizer, seed=3, batch_tokens=4096, progress=lambda: 1.0, mix=Mix(local_research=1.0))
    assert max(len(batches._example()[0]) for _ in range(300)) > 512


def test_notebook_research_searches_the_notebooks_documents_in_a_checkout_drawn_at_random():
    real = LocalCorpus(NOTEBOOK_CORPUS)
    rng = random.Random(5)
    checkouts = set()
    for topic in ("ONNX export", "KV cache", "sandboxing", "tool calling"):
        found = notebook_results(rng, topic)
        expected = real.search(topic, 5)
        assert found is not None and len(found.documents) == len(expected) and found.hit == 0
        for document, result in zip(found.documents, expected):
            name = PurePosixPath(result.url).name
            assert document.title == result.title and document.url.endswith(f"/notebooks/corpus/{name}")
            assert document.url.startswith("file:///") and not document.url.startswith(real.folder.as_uri())
            assert document.text == read_document(NOTEBOOK_CORPUS / name).text  # what a click opens
            assert f"†{document.url}\n{result.snippet}】" in found.observation
        checkouts.add(found.documents[0].url.rsplit("/notebooks/", 1)[0])
    assert len(checkouts) == 4  # a new checkout each time
    assert notebook_results(rng, "zqxv") is None  # nothing matches: no example


def test_notebook_research_changes_only_english_rumination_in_training():
    tokenizer = Tokenizer.from_file(str(checkpoint_path() / "tokenizer.json"))
    rng = random.Random(6)
    samples = [generate("research", Picker(rng, "train", notebook_research=1.0)) for _ in range(40)]
    english = [s for s in samples if s.lang == "en"]
    assert english and all("/notebooks/corpus/" in s.messages[3]["content"] for s in english)
    assert all("/notebooks/corpus/" not in s.messages[3]["content"] for s in samples if s.lang == "zh")
    for sample in english:
        assert sample.messages[4]["content"].endswith('{"name": "click", "arguments": {"link_id": 0}}')
        title = sample.messages[3]["content"].split("†")[1]  # of the first result, the one clicked
        assert sample.messages[7]["content"].endswith(f'see "{title}"【0†source】')
        text = "".join(t for t, _ in corpus.to_segments(sample))
        assert len(tokenizer.encode(text, add_special_tokens=False).ids) <= _MAX_LEN_LOCAL_RESEARCH
    with pytest.raises(AssertionError):
        Picker(random.Random(0), "phrasings", notebook_research=0.5)  # the evaluation never sees these documents


def test_loop_history_trains_one_generation_after_the_actions_as_the_loop_keeps_them():
    rng = random.Random(8)
    samples = [generate("research", Picker(rng, "train", loop_history=1.0, local_research=0.5)) for _ in range(80)]
    steps = set()
    for sample in samples:
        *history, target = sample.messages
        assert target.get("gen") and target["content"].startswith("<think>")  # the loop forces thinking, always
        assert not any(m.get("gen") for m in history)
        actions = [m["content"] for m in history if m["role"] == "assistant"]
        assert all(a.startswith('{"name": ') and "<think>" not in a for a in actions)
        steps.add(len(actions))
    assert steps == {0, 1, 2, 3}  # search, click, finish and the report are each trained
    reports = [s.messages[-1]["content"] for s in samples if len(s.messages) == 8]
    assert reports and all(r.split("</think>\n")[1].startswith(("Report on", "关于")) for r in reports)


def test_evaluation_stages_show_history_as_the_research_loop_does():
    sample = corpus.eval_samples("research", "combos", 1, local_research=1.0)[0]
    prompts = [stage.prompt for stage in corpus.stages(sample)]
    assert len(prompts) == 4 and all(p.count("</think>") == 1 for p in prompts)  # the system prompt's only
    assert prompts[-1].endswith('<|assistant|>\n{"name": "finish", "arguments": {}}<|assistant|>\n<think>')


def test_a_report_is_graded_after_the_thinking_the_loop_forces():
    sample = corpus.eval_samples("research", "combos", 1)[0]  # web results: the report itself has no thinking
    stage = corpus.stages(sample)[-1]
    report = stage.expected[0]["content"]
    assert stage.forced == "\n<think>" and not report.startswith("<think>")
    thought = stage.forced + "I read result 1.</think>"
    assert grade("research", stage, f"{thought}\n{report}<|user|>", sample.expect).values_ok
    assert not grade("research", stage, f"{stage.forced}I read it.\n{report}<|user|>", sample.expect).format_ok
    wrong = grade("research", stage, f"{thought}\n{report.replace('Report', 'Rapport')}<|user|>", sample.expect)
    assert wrong.format_ok and not wrong.values_ok
