"""Helpers shared by the cost-model commands: model loading and common options.

``load_model_arg`` accepts an .onnx path or a zoo network name; ``add_budget_args``
(``--power W`` and ``--area MM2``, read back by ``budgets_of``), ``add_tech_arg`` and
``add_json_arg`` add the options every command spells the same way.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from pathlib import Path

from rich.console import Console

from costmodel.chip_limits import area_problem, area_warning, power_problem
import onnx

from onnx_frontend import load_network
from onnx_frontend.loader import read_model
from onnx_frontend.errors import FrontendError, PimtuneError
from search.cli.fit_table import FittingConsole
from onnx_frontend.network import Network
from onnx_frontend.zoo import NETWORKS, build_model

MODEL_HELP = "path of an .onnx file, or the name of a zoo network (see `pimtune zoo --list`)"


EPITOMES_HELP = ("an epitome plan file (format pimtune-epitomes/1): conv layers' epitome shapes, or one global "
                 "compression ratio, and per-layer weight/activation bits (README: Epitomes)")


def load_model_arg(arg: str, epitomes: str | None = None) -> Network:
    """The network named by a CLI argument: an existing .onnx path, else a zoo name;
    ``epitomes``: a plan file whose epitomes and precisions it gets
    (:func:`onnx_frontend.epitome_plan.apply_plan`).

    Raises:
        FrontendError: neither an existing file nor a zoo name (one line, with the fix).
        EpitomePlanError: the plan cannot be read or does not fit the network (one line).
    """
    path = Path(arg)
    if path.exists():
        network = load_network(path)
    elif arg in NETWORKS:
        network = load_network(build_model(arg), name=arg)
    else:
        raise _unknown_model(arg)
    if epitomes:
        from onnx_frontend.epitome_plan import apply_plan, load_plan
        network = apply_plan(network, load_plan(epitomes), label=epitomes)
    return network


EPITOMES_SEARCH_HELP = (EPITOMES_HELP + "; or `search`: search each conv layer's epitome shape (and, with "
                        "--weight-bits, each layer's precision) jointly with duplication and macros, under --min-ratio "
                        "or --accuracy-table, starting from the dense synthesis (every layer dense is always a "
                        "candidate, so the result is at least as good as the dense synthesis at the same budget, "
                        "effort and seed, which the report compares against)")
MIN_RATIO_HELP = ("with --epitomes search: each layer is either dense (ratio 1, where epitomes do not pay) or stores "
                  "an epitome compressed at least R times (full weights / stored weights; R >= 1); dense stays "
                  "reachable, so the result is at least as good as the dense synthesis by construction")
ACCURACY_TABLE_HELP = ("with --epitomes search: a YAML table (format pimtune-epitome-accuracy/1) of each layer's "
                       "measured accuracy drop (or loss increase) per epitome shape and precision, and the total "
                       "budget the search keeps; unlisted layers stay dense (README: Epitomes)")
WEIGHT_BITS_HELP = ("with --epitomes search: weight precisions each layer may take besides its own, e.g. 3,4,8 "
                    "(crossbars: ceil(bits / cell bits) slices per weight; SRAM: at most the arrays' weight bits)")
SEARCH_ONLY = ("min_ratio", "accuracy_table", "weight_bits")


def add_epitomes_arg(parser: argparse.ArgumentParser, search: bool = False) -> None:
    """``--epitomes PLAN.yaml`` (read the network with :func:`load_model_arg`); with
    ``search`` also the word ``search`` and ``--min-ratio``, ``--accuracy-table`` and
    ``--weight-bits`` (read them with :func:`epitome_setting`)."""
    parser.add_argument("--epitomes", metavar="PLAN.yaml|search" if search else "PLAN.yaml",
                        help=EPITOMES_SEARCH_HELP if search else EPITOMES_HELP)
    if search:
        parser.add_argument("--min-ratio", type=float, metavar="R", help=MIN_RATIO_HELP)
        parser.add_argument("--accuracy-table", metavar="FILE", help=ACCURACY_TABLE_HELP)
        parser.add_argument("--weight-bits", metavar="LIST", help=WEIGHT_BITS_HELP)


def epitome_setting(args: argparse.Namespace):
    """``(plan, search)`` of ``--epitomes``: a plan file's path (the network carries its
    epitomes: pass it to :func:`load_model_arg`) or None, and the
    :class:`~space.epitome_choices.EpitomeSearch` of ``--epitomes search`` or None.

    Raises:
        PimtuneError: (one line) ``--min-ratio``, ``--accuracy-table`` or ``--weight-bits``
            without ``--epitomes search``, ``search`` where the command takes plans only,
            a floor below 1, a bad accuracy table or precision list.
    """
    from space.epitome_choices import EpitomeSearch, load_accuracy_table, parse_weight_bits

    value = getattr(args, "epitomes", None)
    given = [k for k in SEARCH_ONLY if getattr(args, k, None) is not None]
    if value != "search":
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise PimtuneError(f"{flag} applies to --epitomes search (what the searched epitomes must respect); "
                               f"add --epitomes search or drop {flag}")
        return value, None
    if not hasattr(args, "min_ratio"):
        raise PimtuneError("--epitomes search: this command takes an epitome plan file; the search of epitomes runs "
                           "in pimtune synth (or a sweep's synth cells)")
    table = None if args.accuracy_table is None else load_accuracy_table(args.accuracy_table)
    bits = () if args.weight_bits is None else parse_weight_bits(args.weight_bits)
    return None, EpitomeSearch(min_ratio=args.min_ratio, table=table, table_source=args.accuracy_table,
                               weight_bits=bits)


def _unknown_model(arg: str) -> FrontendError:
    return FrontendError(f"{arg}: no such file and not a zoo network; pass the path of an .onnx model "
                         f"or a name from `pimtune zoo --list`")


def model_proto_arg(arg: str) -> tuple[onnx.ModelProto, str]:
    """The ONNX model a CLI argument names (an existing .onnx path, else a zoo name) and its name."""
    path = Path(arg)
    if path.exists():
        return read_model(path), path.stem
    if arg in NETWORKS:
        return build_model(arg), arg
    raise _unknown_model(arg)


def output_dir(arg: str | Path, create: bool = True) -> Path:
    """An ``--out`` folder, created if missing (unless not ``create``); PimtuneError (one
    line) when ``arg`` names a file or the folder cannot be created."""
    path = Path(arg)
    if path.exists() and not path.is_dir():
        raise PimtuneError(f"--out {path}: is a file, not a folder; pass a folder (it is created if missing)")
    if not create:
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PimtuneError(f"--out {path}: cannot create the folder ({exc.strerror}); pass a writable folder") from None
    return path


def _budget_type(problem, expected: str):
    """An argparse type: a float that ``problem`` (:mod:`costmodel.chip_limits`) accepts."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        why = problem(value)
        if why:
            raise argparse.ArgumentTypeError(f"{why} (got {text!r})")
        return value
    return parse


#: argparse type of ``--power``: a power budget in W.
positive_watts = _budget_type(power_problem, "a power budget in W (e.g. 49)")
#: argparse type of ``--area``: an area budget in mm^2.
positive_mm2 = _budget_type(area_problem, "an area budget in mm^2 (e.g. 100)")


def warn_if_beyond_one_die(area_mm2: float | None, power_w: float | None, area_budget_mm2: float | None = None) -> None:
    """One ``pimtune: warning:`` line on stderr when a reported design exceeds one die."""
    warning = None if area_mm2 is None else area_warning(area_mm2, power_w, area_budget_mm2)
    if warning:
        print(f"pimtune: warning: {warning}", file=sys.stderr)


def positive_int(text: str) -> int:
    """argparse type of counts (``--designs``, ``--batch``, ``--repeats``): an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_budget_args(parser: argparse.ArgumentParser, default_power: float | None = None) -> None:
    """``--power W`` and ``--area MM2``: the chip's budgets, either or both (read them with
    :func:`budgets_of`; without either, ``default_power`` W if given, else an error)."""
    default = "" if default_power is None else f"; default {default_power:g} W when neither is given"
    parser.add_argument("--power", type=positive_watts, metavar="W", default=None,
                        help=f"power budget of the chip in W (--power, --area or both{default})")
    parser.add_argument("--area", type=positive_mm2, metavar="MM2", default=None,
                        help="area budget of the chip in mm^2 (with --power, the chip keeps within both)")
    parser.set_defaults(default_power=default_power)


def budgets_of(args: argparse.Namespace) -> tuple[float | None, float | None]:
    """``(power_w, area_mm2)`` of ``--power`` and ``--area`` (None: not given); PimtuneError
    (one line) when neither is given and the command has no default power."""
    power, area = args.power, args.area
    if power is None and area is None:
        if args.default_power is None:
            raise PimtuneError("no budget: give --power W (a power budget), --area MM2 (an area budget in mm^2) "
                               "or both")
        power = args.default_power
    return power, area


def add_tech_arg(parser: argparse.ArgumentParser) -> None:
    """``--tech FILE``: a technology YAML file or bundled name (default: reram)."""
    parser.add_argument("--tech", metavar="FILE", default="reram",
                        help="technology YAML file or bundled technology name (default: reram)")


SPARSITY_HELP = ("zeros the designs may skip: dense (default: every weight and input non-zero), measured (the "
                 "model's own weights, its activations measured with ONNX Runtime on 8 random inputs) or a profile "
                 "YAML from `pimtune profile` (with the model's weights where it holds them)")


def add_sparsity_arg(parser: argparse.ArgumentParser) -> None:
    """``--sparsity dense|measured|PROFILE.yaml`` (default dense; read it with :func:`densities_of`)."""
    parser.add_argument("--sparsity", default="dense", metavar="dense|measured|PROFILE.yaml", help=SPARSITY_HELP)


def densities_of(spec: str, model_arg: str, network: Network, tech):
    """The :class:`~costmodel.sparsity.densities.Densities` ``--sparsity spec`` names for the
    network ``model_arg`` names (None: dense); PimtuneError (one line) on a bad spec or a
    technology without a ``sparsity:`` section to exploit zeros with."""
    from costmodel.sparsity.source import DENSE, MEASURED, sparsity_densities

    if spec == DENSE:
        return None
    require_sparsity_support(spec, tech)
    model = model_proto_arg(model_arg)[0] if spec == MEASURED else None
    return sparsity_densities(spec, network, tech, model)


def require_sparsity_support(spec: str, tech) -> None:
    """PimtuneError (one line, with the fix) when ``--sparsity spec`` (not dense) meets a
    technology without a ``sparsity:`` section, whose layers can exploit no zeros."""
    if tech.sparsity is None:
        raise PimtuneError(f"--sparsity {spec}: technology '{tech.name}' has no 'sparsity:' section (what zero "
                           "detection and skipping cost); copy the section from the bundled costmodel/tech/reram.yaml "
                           "(or sram-*.yaml) into it, or use --sparsity dense")


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of tables")


def jsonable(obj):
    """``obj`` with NaN and infinities replaced by None, so ``json.dumps`` writes strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def console(stderr: bool = False) -> Console:
    """A rich console that lays every table out to its width without cutting a value
    (:mod:`search.cli.fit_table`); when not writing to a terminal it is 160 columns wide,
    so that tables piped to a file are not wrapped at 80 columns."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty() or "COLUMNS" in os.environ:
        return FittingConsole(stderr=stderr)
    return FittingConsole(stderr=stderr, width=max(160, shutil.get_terminal_size((160, 24)).columns))


def si(value: float, unit: str, digits: int = 3) -> str:
    """``value`` (in base unit ``unit``) with an SI prefix, e.g. ``si(2.3e-4, "s") == "230 us"``."""
    if value is None or not math.isfinite(value):
        return "-"
    if value == 0:
        return f"0 {unit}"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"),
                           (1e-6, "u"), (1e-9, "n"), (1e-12, "p")):
        if abs(value) >= factor * 0.9995:
            return f"{value / factor:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}"
