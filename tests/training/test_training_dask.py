"""The same training on Dask (a local cluster of two worker processes) trains and scores."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.slow
def test_dask_training_trains_scores_and_registers(tracking_uri, config) -> None:
    from fabricated_frames import fabricate_frame, training_part
    from mlflow import MlflowClient

    from training.dask_train import local_cluster, train_all_on_dask
    from training.frame import TrainingFrame

    frame = TrainingFrame.from_dataframe(training_part(fabricate_frame(households=600, seed=5)))
    cheap = config.model_copy(
        update={
            "audit": config.audit.model_copy(update={"ablate": False}),
            "lightgbm": config.lightgbm.model_copy(update={"max_rounds": 60}),
        }
    )
    with local_cluster(n_workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        report = train_all_on_dask(frame, cheap, tracking_uri, hardships=["poverty"], client=client)
    result = report.results["poverty"]
    assert 0 < result.best_iteration <= 60
    assert result.metrics.roc_auc > 0.6
    rows = result.bundle.encode(frame.data.iloc[:10])
    scores = result.bundle.score(rows)
    assert ((scores > 0) & (scores < 1)).all()
    assert np.allclose(result.bundle.contributions(rows).sum(axis=1), result.bundle.margin(rows))
    registry = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    aliases = registry.get_registered_model("mimamori-poverty").aliases
    assert {k: str(v) for k, v in aliases.items()} == {"challenger": "1"}
