"""The verdict and distress models are fitted once per knowledge base and
loaded after: an edited knowledge base is fitted again, a damaged cache
file is fitted again without a traceback, and commands that answer no
question never load scikit-learn, scipy or the models."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from knowledge import model_cache
from knowledge.loader import load_entries
from knowledge.matching import fold
from knowledge.text_model import LinearTextModel, char_wb_grams, word_grams
from tests.conftest import subprocess_env

TEXTS = ["can i drive her to court", "may i lend him money", "is it ok to hug a client", "what is peer support",
         "can i give her my number", "should i report him to the team", "what does recovery mean", "can i share my story"]
LABELS = ["depends", "out_of_scope", "depends", "info", "out_of_scope", "out_of_scope", "info", "in_scope"]


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """A cache of its own, and a record of every real fit."""
    monkeypatch.setenv("PEERBOT_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[str] = []
    real = LinearTextModel.fit.__func__

    def counted(cls, folded, labels, **kwargs):
        calls.append(folded[0])
        return real(cls, folded, labels, **kwargs)

    monkeypatch.setattr(LinearTextModel, "fit", classmethod(counted))
    return calls


def test_a_model_is_fitted_once_and_loaded_after(fits: list[str]):
    first = model_cache.fitted_model("verdicts", TEXTS, LABELS, C=0.3)
    again = model_cache.fitted_model("verdicts", TEXTS, LABELS, C=0.3)
    assert len(fits) == 1
    assert np.array_equal(first.scores("can i drive him to court"), again.scores("can i drive him to court"))


def test_a_changed_text_is_fitted_again(fits: list[str]):
    model_cache.fitted_model("verdicts", TEXTS, LABELS, C=0.3)
    edited = ["can i walk with her to court", *TEXTS[1:]]
    model = model_cache.fitted_model("verdicts", edited, LABELS, C=0.3)
    assert len(fits) == 2
    assert model.scores("walk") is not None and "walk" in model._parts[0][1]


@pytest.mark.parametrize("damage", [b"", b"not a zip file at all", b"PK\x03\x04 cut short"])
def test_a_damaged_cache_file_is_fitted_again_without_a_traceback(fits: list[str], damage: bytes, tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture):
    good = model_cache.fitted_model("distress", TEXTS, LABELS, C=0.5)
    [path] = (tmp_path / "cache").glob("distress-*.npz")
    path.write_bytes(damage)
    with caplog.at_level(logging.WARNING, logger="knowledge.model_cache"):
        again = model_cache.fitted_model("distress", TEXTS, LABELS, C=0.5)
    assert len(fits) == 2
    assert np.array_equal(good.scores("can i hug her"), again.scores("can i hug her"))
    assert "fitting it again" in caplog.text and "Traceback" not in caplog.text
    model_cache.fitted_model("distress", TEXTS, LABELS, C=0.5)
    assert len(fits) == 2  # the file was written again, whole


def test_an_unwritable_cache_still_answers(fits: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("PEERBOT_CACHE_DIR", str(blocked / "cache"))
    model = model_cache.fitted_model("verdicts", TEXTS, LABELS, C=0.3)
    assert model.labels == sorted(set(LABELS))


def test_an_edited_knowledge_folder_refits_the_verdict_model(fits: list[str], tmp_path: Path):
    from knowledge.answering import KnowledgeBase

    folder = tmp_path / "kb"
    folder.mkdir()
    local = next(iter(load_entries().entries.values())).model_dump(mode="json", exclude_none=True)
    local.update(id="local-bus-passes", phrasings=[*local["phrasings"][:4], "can i hand out bus passes"], related=[])
    entry = folder / "local.yaml"
    entry.write_text(yaml.safe_dump([local]))
    assert not load_entries(folder).problems
    KnowledgeBase.load(folder)
    fitted = len(fits)
    entry.write_text(entry.read_text().replace("can i hand out bus passes", "can i hand out bus passes and tokens"))
    KnowledgeBase.load(folder)
    assert len(fits) == fitted + 1
    KnowledgeBase.load(folder)
    assert len(fits) == fitted + 1


def test_n_grams_are_cut_as_scikit_learn_cuts_them():
    from sklearn.feature_extraction.text import TfidfVectorizer

    words = TfidfVectorizer(ngram_range=(1, 2)).build_analyzer()
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)).build_analyzer()
    texts = [fold(p) for e in load_entries().entries.values() for p in e.phrasings[:3]]
    texts += ["  odd\tspacing  and ÜNICODE 🙂 a I", "", "x", "a\u00a0b\u2003c  d\n\ne"]
    assert [word_grams(t) for t in texts] == [words(t) for t in texts]
    assert [char_wb_grams(t) for t in texts] == [chars(t) for t in texts]


def test_scores_are_the_svms_decision_function():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    model = LinearTextModel.fit(TEXTS, LABELS, C=0.3)
    pipeline = make_pipeline(
        make_union(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                   TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
        LinearSVC(C=0.3, random_state=0),
    ).fit(TEXTS, LABELS)
    questions = ["can i drive him to the court", "what is recovery", "lend money?"]
    expected = pipeline.decision_function([fold(q) for q in questions])  # scores() folds its question
    got = np.array([model.scores(q) for q in questions])
    assert np.allclose(got, expected, atol=1e-9)


def _loaded_after(args: list[str], tmp_path: Path) -> list[str]:
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom bot.cli import cli\n"
        f"r = CliRunner().invoke(cli, {args!r})\nassert r.exit_code == 0, r.output\n"
        "heavy = ('sklearn', 'scipy', 'bm25s', 'matplotlib')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    env = subprocess_env(PEERBOT_DB=str(tmp_path / "x.db"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    return eval(result.stdout.decode().strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["concerns", "list"]])
def test_commands_that_answer_no_question_never_load_the_models(args: list[str], tmp_path: Path):
    assert _loaded_after(args, tmp_path) == []


def test_answering_loads_the_fitted_models_without_scikit_learn_or_bm25s(tmp_path: Path):
    from knowledge import distress
    from knowledge.answering import KnowledgeBase

    # Fitted into this session's cache (loaded, when an earlier test did it).
    KnowledgeBase.build()
    distress._second_opinion(distress.EXAMPLES_FILE)
    loaded = _loaded_after(["ask", "can I drive someone to their appointment?"], tmp_path)
    assert loaded == []  # it did answer, from the cached fits and the cached keyword index


def test_keyword_scores_are_the_ones_bm25s_gives():
    """The index is scored without bm25s, from the columns it built: to the last bit."""
    import bm25s

    from knowledge.keyword_index import KeywordIndex
    from knowledge.matching import Matcher

    entries = list(load_entries().entries.values())
    matcher = Matcher(entries)
    documents = [matcher._tokens(p) for e in entries for p in (e.title, *e.phrasings)]
    reference = bm25s.BM25()
    reference.index(documents, show_progress=False)
    ours = KeywordIndex.build(documents)
    again = KeywordIndex.from_arrays(ours.arrays("x"), "x")
    questions = ["can i drive her to court", "cn i b frends w/ a client on insta", "filing charts",
                 "hug hug hug", "zzzz unknown words only", "can i hand out meds to the group"]
    for question in questions:
        tokens = matcher.query_tokens(question)
        known = [t for t in tokens if t in reference.vocab_dict and t]
        expected = reference.get_scores(known) if known else np.zeros(len(documents), dtype=np.float32)
        assert np.array_equal(ours.scores(tokens), expected), question
        assert np.array_equal(again.scores(tokens), expected), question


def test_a_warm_start_builds_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A second process with the same knowledge base neither indexes nor fits."""
    from knowledge.answering import KnowledgeBase
    from knowledge.keyword_index import KeywordIndex

    monkeypatch.setenv("PEERBOT_CACHE_DIR", str(tmp_path / "cache"))
    first = KnowledgeBase.build()
    built: list[str] = []
    monkeypatch.setattr(KeywordIndex, "build", classmethod(lambda cls, docs: built.append("index") or []))
    monkeypatch.setattr(LinearTextModel, "fit", classmethod(lambda cls, *a, **k: built.append("fit")))
    second = KnowledgeBase.build()
    assert built == []
    for question in ["can i drive someone to their doctor's appointment?", "is it ok to hug a client"]:
        assert second.answer(question).entry.id == first.answer(question).entry.id


def test_a_saved_index_for_other_documents_is_built_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture):
    from knowledge.matching import Matcher

    monkeypatch.setenv("PEERBOT_CACHE_DIR", str(tmp_path / "cache"))
    entries = list(load_entries().entries.values())
    Matcher(entries)
    [path] = (tmp_path / "cache").glob("keywords-*.npz")
    with np.load(path) as saved:
        arrays = {name: saved[name] for name in saved.files}
    arrays["pooled_documents"] = np.array(3)
    np.savez(path, **arrays)
    with caplog.at_level(logging.WARNING, logger="knowledge.model_cache"):
        matcher = Matcher(entries)
    assert "fitting it again" in caplog.text
    assert matcher.rank("can i drive her to her appointment")[0].target.kind == "entry"
