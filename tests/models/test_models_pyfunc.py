"""The bundle as an MLflow pyfunc: numpy rows in, scores and contributions out, also over JSON."""

from __future__ import annotations

import os

import lightgbm as lgb
import numpy as np
import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from models.bundle import Calibrator, ModelBundle
    from models.pyfunc import save_bundle_model

    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 3))
    x[:, 2] = rng.integers(0, 3, 2000)
    x[rng.random(2000) < 0.1, 0] = np.nan
    y = (np.nan_to_num(x[:, 0]) + (x[:, 2] == 1) + rng.normal(size=2000) > 1).astype(int)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 7, "verbosity": -1, "num_threads": 1},
        lgb.Dataset(x, y, feature_name=["a", "b", "kind"], categorical_feature=[2]),
        30,
    )
    bundle = ModelBundle(
        booster,
        ("a", "b", "kind"),
        {"kind": ("x", "y", "z")},
        Calibrator("platt", {"a": (1.0,), "b": (-0.5,)}),
        {"hardship": "abuse"},
    )
    path = tmp_path_factory.mktemp("pyfunc") / "model"
    save_bundle_model(bundle, path, input_example=x[:3])
    return bundle, path, x


def test_pyfunc_scores_numpy_rows_and_explains_on_request(saved) -> None:
    import mlflow

    from models.pyfunc import BASE_COLUMN, contribution_column

    bundle, path, x = saved
    model = mlflow.pyfunc.load_model(str(path))
    scores = model.predict(x[:10])
    assert list(scores.columns) == ["score", "log_odds"]
    assert np.allclose(scores["score"], bundle.score(x[:10]))
    explained = model.predict(x[:10], params={"contributions": True})
    columns = [contribution_column(n) for n in bundle.feature_names]
    assert list(explained.columns) == ["score", "log_odds", *columns, BASE_COLUMN]
    assert np.allclose(explained[[*columns, BASE_COLUMN]].to_numpy(), bundle.contributions(x[:10]))
    schema = model.metadata.get_input_schema()
    assert schema.is_tensor_spec() and schema.inputs[0].shape == (-1, 3)


def test_the_model_folder_holds_no_pickle(saved) -> None:
    _, path, _ = saved
    assert not list(path.rglob("*.pkl"))
    assert (path / "artifacts" / "bundle" / "model.txt").is_file()


def test_serving_answers_json_with_missing_values(saved) -> None:
    import mlflow
    from fastapi.testclient import TestClient
    from mlflow.pyfunc import scoring_server

    bundle, path, _ = saved
    app = scoring_server.init(mlflow.pyfunc.load_model(str(path)))
    rows = [[None, 0.5, 1.0], [0.3, -1.0, 2.0]]
    response = TestClient(app).post(
        "/invocations", json={"inputs": rows, "params": {"contributions": True}}
    )
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    expected = bundle.score(np.array(rows, dtype=float))
    assert [p["score"] for p in predictions] == pytest.approx(expected.tolist())
    assert "contrib_kind" in predictions[0]
