"""``halidelab prior train/predict/explain`` through the CLI."""

from __future__ import annotations

import json

from halidelab.cli import main


def test_predict_json(capsys):
    code = main(["prior", "predict", "Li1.8Zr0.8Nb0.2Cl6", "Li3YCl6", "Li3InCl6", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["formula"] for d in data] == ["Li1.8Zr0.8Nb0.2Cl6", "Li3YCl6", "Li3InCl6"]
    for d in data:
        assert d["log10_sigma_low_S_cm"] < d["log10_sigma_S_cm"] < d["log10_sigma_high_S_cm"]
        assert d["family"] == "halide" and d["in_domain"] is False and d["warnings"]
        assert d["interval_level"] == 0.9


def test_predict_table_and_bad_formula(capsys):
    assert main(["prior", "predict", "Li7La3Zr2O12"]) == 0
    out = capsys.readouterr().out
    assert "Li7La3Zr2O12" in out and "oxide" in out
    assert main(["prior", "predict", "Li3Zz2Cl6"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "Zz" in err[0]


def test_explain(capsys):
    assert main(["prior", "explain", "Li1.8Zr0.8Nb0.2Cl6", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["prediction"]["nearest"] and data["contributions"]
    assert main(["prior", "explain", "Li1.8Zr0.8Nb0.2Cl6"]) == 0
    out = capsys.readouterr().out
    assert "nearest measured" in out and "OUT OF DOMAIN" in out


def test_train_to_folder(tmp_path, capsys):
    assert main(["prior", "train", "--out", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (tmp_path / "prior_model.joblib").is_file() and (tmp_path / "prior_model.json").is_file()
    assert data["n_test"] > 100 and 0.85 <= data["test_metrics"]["coverage"] <= 0.95
    # the freshly trained model is usable through --model
    assert main(["prior", "predict", "Li3YCl6", "--model", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["formula"] == "Li3YCl6"
