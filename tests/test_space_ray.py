"""The design space's Ray Tune export drives a real local Ray Tune session."""

from __future__ import annotations

import pytest

from onnx_frontend import load_network
from onnx_frontend.zoo import build_model
from space import DesignSpace, repair


def test_to_tune_param_space_runs_in_ray_tune(tmp_path):
    ray = pytest.importorskip("ray")
    from ray import tune

    space = DesignSpace.for_network(load_network(build_model("alexnet-cifar")), "reram", 20.0)

    def trainable(config):
        X = repair(space, space.encode(config))
        r = space.evaluate(X)
        return {"tops_per_watt": float(r.tops_per_watt[0]), "feasible": bool(r.feasible[0])}

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        tuner = tune.Tuner(
            trainable,
            param_space=space.to_tune(),
            tune_config=tune.TuneConfig(num_samples=4, metric="tops_per_watt", mode="max"),
            run_config=tune.RunConfig(verbose=0, storage_path=str(tmp_path / "ray")),
        )
        results = tuner.fit()
    finally:
        ray.shutdown()
    assert len(results) == 4 and not results.errors
    configs = [r.config for r in results]
    assert all(set(c) == set(space.to_optuna()) for c in configs)
    # every sampled point decodes to a design of the space, and repair makes all of them valid
    assert all(r.metrics["tops_per_watt"] >= 0 for r in results)
    assert len({tuple(sorted(c.items())) for c in configs}) > 1
