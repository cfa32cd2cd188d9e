"""Running the cells of a sweep as Ray Tune trials, on a local Ray or an existing cluster.

Every cell is one trial of a :class:`ray.tune.Tuner` over ``{"cell": grid_search(cells)}``
with one CPU per trial and at most ``max_concurrent`` trials at a time; each trial runs
:func:`search.sweeps.sweep.run_cell` against the shared Optuna storage. The grid lists the cells
longest expected first (:func:`search.sweeps.sweep.longest_first`), so that the workers run out
of cells at about the same time instead of one waiting for a long last cell. Ray Tune's own
experiment state goes to a temporary folder and is thrown away: the Optuna storage is the
record of what is done (:func:`search.sweeps.sweep.cell_states`). A trial whose worker dies (a
node lost) is run again up to :data:`MAX_FAILURES` times; a cell that raises
PimtuneError (bad input) is reported and not retried.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Before Ray is imported: no usage reporting, and with verbose=0 no experiment banner.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray._private import state  # noqa: E402

from onnx_frontend.errors import PimtuneError  # noqa: E402
from search.storage.studies import one_line, open_storage  # noqa: E402
from search.sweeps.sweep import Cell, Inputs, longest_first, run_cell  # noqa: E402

#: Times Ray Tune reruns a cell whose trial failed for a reason other than bad input.
MAX_FAILURES = 2
#: Seconds to wait for the trials of a killed driver to be stopped before starting.
ORPHAN_WAIT_S = 60.0

#: report(cell, result or None, error or None, seconds since the sweep started)
Report = Callable[[Cell, dict | None, str | None, float], None]


def cell_trial(config: dict, inputs: Inputs, storage_url: str) -> dict:
    """The Ray Tune trainable: one cell, returning :func:`run_cell`'s result as the
    trial's final metrics (``error`` holds the one-line message of bad input)."""
    cell = Cell(**config["cell"])
    node = ray.get_runtime_context().get_node_id()[:12]
    try:
        return {**run_cell(cell, inputs, storage_url, node=node), "error": None}
    except PimtuneError as exc:
        return {"study": cell.study_name, "error": str(exc)}


def connect(address: str | None, num_cpus: int | None = None) -> None:
    """``ray.init`` on the cluster at ``address`` (or ``RAY_ADDRESS``), else a new local
    Ray on this machine (``num_cpus``, default all) started lean (:func:`lean_local_ray`);
    PimtuneError (one line) when unreachable."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    try:
        if address:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        else:
            with lean_local_ray():
                ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level=logging.ERROR,
                         log_to_driver=False)
    except Exception as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise PimtuneError(f"cannot start or reach {where} ({one_line(exc)}); check --address / RAY_ADDRESS "
                           f"or start one with `ray start --head`") from None


@contextmanager
def lean_local_ray() -> Iterator[None]:
    """While ``ray.init`` starts a local Ray: without the three head processes a sweep has
    no use for, and without a needless second of waiting. On 2 cores this took Ray's
    start-up from 2.0-3.5 s to ~0.9 s and its shut-down from ~1.3 s to ~0.3 s.

    - No dashboard API server (with ``include_dashboard=False`` it serves only usage
      statistics, which are off): Ray waits for it to come up before it starts the raylet.
    - No autoscaler monitor (a local Ray does not scale; stopping it took ~1 s of
      ``ray.shutdown``) and no log monitor (it forwards worker output to the driver, and
      ``log_to_driver=False``): Python processes costing ~0.5 CPU-s each while Ray starts.
    - Ray asks the GCS whether the new raylet has registered ~0.1 s after starting it and,
      if not yet, asks again only a second later; the raylet registers ~0.4 s after its
      start. Here the question is asked every 20 ms until it has.

    Ray has no public switches for these: this sets two fields of Ray's private node
    parameters and replaces two of its private functions while this block runs (and
    restores them). With a Ray whose internals differ it changes nothing (a plain local
    Ray). A cluster started with ``ray start`` (``--address``) is not affected."""
    try:
        from ray._private import services
        from ray._private import state as ray_state
        from ray._private.node import Node
        from ray._private.parameter import RayParams

        params = RayParams()
        usable = (hasattr(params, "no_monitor") and hasattr(params, "include_log_monitor")
                  and all(callable(getattr(owner, name, None)) for owner, name in
                          ((Node, "start_api_server"), (services, "get_node"), (services, "_get_gcs_client_options"),
                           (ray_state.GlobalState, "node_table"))))
    except Exception:                               # another Ray: start it plainly
        usable = False
    if not usable:
        yield
        return
    node_init, start_api_server, get_node = Node.__init__, Node.start_api_server, services.get_node

    def lean_init(self, ray_params, *args, **kwargs):
        if kwargs.get("head", args[0] if args else False):
            ray_params.no_monitor = True
            ray_params.include_log_monitor = False
        node_init(self, ray_params, *args, **kwargs)

    def registered_node(gcs_address, node_id):
        gcs = ray_state.GlobalState()
        try:
            gcs._initialize_global_state(services._get_gcs_client_options(gcs_address))
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline and not any(
                    n.get("NodeID") == node_id and n.get("Alive") for n in gcs.node_table()):
                time.sleep(0.02)
        except Exception:                           # Ray's own wait below decides
            pass
        finally:
            gcs.disconnect()
        return get_node(gcs_address, node_id)

    Node.__init__ = lean_init
    Node.start_api_server = lambda self, **kwargs: None
    services.get_node = registered_node
    try:
        yield
    finally:
        Node.__init__, Node.start_api_server, services.get_node = node_init, start_api_server, get_node


@contextmanager
def trials_on_ray_workers() -> Iterator[None]:
    """While a Tuner starts its trials: trial actors that Ray's ready worker processes can run.

    Tune gives every trainable the runtime environment ``{"env_vars": {"PL_DISABLE_FORK":
    "1"}}`` (a PyTorch Lightning setting). A runtime environment other than the job's keeps
    Ray from using the worker processes it prestarted (one per CPU, ``ray`` imported while
    Ray started): it starts new ones for the trials instead, and the first cells began
    ~0.6 s later on 2 cores. pimtune does not use Lightning, so the variable is left out
    while this block runs (Tune's private default, restored afterwards; with a Tune
    without it, nothing changes). Variables Tune passes on from the driver's environment
    (AWS credentials, Ray Train's) still make a runtime environment, and new processes."""
    try:
        from ray.tune.execution import class_cache

        defaults = class_cache.DEFAULT_ENV_VARS
        saved = dict(defaults)
    except Exception:                               # another Tune: nothing to do
        yield
        return
    defaults.pop("PL_DISABLE_FORK", None)
    try:
        yield
    finally:
        defaults.clear()
        defaults.update(saved)


def shutdown() -> None:
    """Disconnect from Ray (and stop the local Ray that :func:`connect` started)."""
    ray.shutdown()


def wait_for_orphans(timeout_s: float = ORPHAN_WAIT_S) -> int:
    """Wait until no actor of a finished job (a killed earlier driver) is alive, so that
    no trial of an interrupted sweep still writes while this one resumes; returns how
    many there were."""
    deadline = time.monotonic() + timeout_s
    first = None
    while True:
        dead_jobs = {j["JobID"] for j in state.jobs() if j.get("IsDead")}
        alive = [a for a in state.actors(actor_state_name="ALIVE").values() if a["JobID"] in dead_jobs]
        first = len(alive) if first is None else first
        if not alive:
            return first
        if time.monotonic() > deadline:
            raise PimtuneError(f"{len(alive)} trials of an earlier, interrupted sweep are still running on the "
                               f"cluster after {timeout_s:.0f} s; stop them (`ray stop` on their nodes) and rerun")
        time.sleep(0.2)


def run_on_ray(cells: list[Cell], inputs: Inputs, storage_url: str, max_concurrent: int | None = None,
               report: Report | None = None) -> list[dict]:
    """Run ``cells`` as Ray Tune trials on the connected Ray (see :func:`connect`), longest
    expected first, and return one dict per cell in the order of ``cells``: its
    :func:`run_cell` result, or ``{"study", "error"}``."""
    open_storage(storage_url)      # creates a new database's tables once, before the trials race to
    if max_concurrent is None:
        max_concurrent = max(int(ray.cluster_resources().get("CPU", 1)), 1)
    start = time.monotonic()
    callback = _Progress(report, start) if report else None
    trainable = tune.with_resources(tune.with_parameters(cell_trial, inputs=inputs, storage_url=storage_url),
                                    {"cpu": 1})
    with tempfile.TemporaryDirectory(prefix="pimtune-sweep-") as tmp:
        tuner = tune.Tuner(
            trainable,
            param_space={"cell": tune.grid_search([c.as_dict() for c in longest_first(cells, inputs)])},
            tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent, reuse_actors=True,
                                        trial_name_creator=_trial_name, trial_dirname_creator=_trial_name),
            run_config=tune.RunConfig(name="sweep", storage_path=tmp, verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
                                      callbacks=[callback] if callback else None),
        )
        with trials_on_ray_workers():
            grid = tuner.fit()
    by_study = {}
    for r in grid:
        if not r.config:                  # a trial an interrupt (Ctrl-C) stopped before it started
            continue
        study = Cell(**r.config["cell"]).study_name
        by_study[study] = dict(r.metrics or {}) if r.error is None else {"study": study, "error": last_line(r.error)}
    return [by_study.get(c.study_name, {"study": c.study_name, "error": "not run (interrupted)"}) for c in cells]


def last_line(exc: BaseException) -> str:
    """The last line of an error's text: for a trial's error, the exception its cell raised
    (the lines before are Ray's traceback)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[-1].split())[:200] if lines else type(exc).__name__


def _trial_name(trial) -> str:
    cell = Cell(**trial.config["cell"])
    return f"{trial.trial_id}-{cell.study_name.split('/', 1)[-1]}"


class _Progress(tune.Callback):
    """Calls ``report`` in the driver when a trial finishes or errs. Tune pickles its
    callbacks for ``Tuner.restore``, which a sweep never uses: ``report`` is not pickled."""

    def __init__(self, report: Report, start: float):
        self.report = report
        self.start = start

    def __getstate__(self) -> dict:
        return {"start": self.start}

    def __setstate__(self, saved: dict) -> None:
        self.report = lambda *args: None
        self.start = saved["start"]

    def on_trial_complete(self, iteration, trials, trial, **info):
        result = trial.last_result or {}
        cell = Cell(**trial.config["cell"])
        self.report(cell, None if result.get("error") else result, result.get("error"), time.monotonic() - self.start)

    def on_trial_error(self, iteration, trials, trial, **info):
        cell = Cell(**trial.config["cell"])
        error = trial.get_error()
        self.report(cell, None, last_line(error) if error else "failed", time.monotonic() - self.start)
