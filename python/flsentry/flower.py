"""A Flower strategy wrapper: flsentry filters each round's fit results,
then the wrapped strategy aggregates what it kept.

    from flwr.server.strategy import FedAvg
    from flsentry.flower import FilteredStrategy
    strategy = FilteredStrategy(FedAvg(...), policy="default.yaml",
                                base_dir="flsentry-state/")

How a round goes (aggregate_fit):
1. The global model of the round is the Parameters this wrapper passed on in
   configure_fit. Flower clients send full weights, so every update goes to
   the plugin as kind "weights" and the plugin computes the deltas.
2. Floating-point arrays go to the plugin, named by their position ("0",
   "1", ...); integer arrays (e.g. batch-norm counters) are not filtered.
   The Parameters' bytes are read in place (no copy) when they hold .npy
   arrays, as Flower's NumPy clients send them.
3. The client id is FitRes.metrics[client_id_key] when present (a stable
   id, e.g. "hospital-7"), else the proxy's cid (in Flower 1.x the gRPC
   peer address, which changes when a client reconnects).
4. Dropped results are left out; a kept result with weight w goes to the
   wrapped strategy with num_examples = max(1, round(num_examples * w)).
5. The returned metrics carry "flsentry.accepted", "flsentry.downweighted",
   "flsentry.dropped", "flsentry.plugin_s", "flsentry.wrapper_s" and
   "flsentry.decisions" (a JSON list of the decisions); the same decisions
   are in ``last_decisions``.

State: the plugin keeps quarantine, strikes and its detector in the policy's
state file (``state.path``, relative to base_dir), loaded when the filter is
created, so a restarted server continues where it stopped. Flower numbers
rounds from 1 at every start; the plugin needs increasing round numbers, so
the wrapper adds an offset: by default the last round in the loaded state.
"""
from __future__ import annotations

import functools
import io
import json
import time
from dataclasses import replace
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from flwr.common import (
    EvaluateIns,
    EvaluateRes,
    FitIns,
    FitRes,
    Parameters,
    Scalar,
    parameters_to_ndarrays,
)
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import Strategy

from .filter import Decision, Filter, PathLike, Plugin, Update

__all__ = ["FilteredStrategy", "parameters_as_arrays"]


@functools.lru_cache(maxsize=1024)
def _npy_header(head: bytes) -> Tuple[Tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) of one .npy header. Cached: numpy's
    parser costs ~0.2 ms a call and every client sends the same headers."""
    from numpy.lib import format as npy

    stream = io.BytesIO(head)
    version = npy.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = npy.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = npy.read_array_header_2_0(stream)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError("object arrays are not accepted")
    return shape, fortran, dtype


def _npy_view(blob: bytes) -> np.ndarray:
    """The array in one .npy blob, as a read-only view of the bytes (Flower's
    ndarray_to_bytes writes np.save output). Raises ValueError when the bytes
    are not a well-formed .npy array."""
    if blob[:6] != b"\x93NUMPY" or len(blob) < 12:
        raise ValueError("not .npy bytes")
    if blob[6] == 1:
        start = 10 + int.from_bytes(blob[8:10], "little")
    else:
        start = 12 + int.from_bytes(blob[8:12], "little")
    shape, fortran, dtype = _npy_header(bytes(blob[:start]))
    count = int(np.prod(shape, dtype=np.int64))
    arr = np.frombuffer(blob, dtype=dtype, count=count, offset=start)
    return arr.reshape(shape, order="F" if fortran else "C")


def parameters_as_arrays(parameters: Parameters) -> List[np.ndarray]:
    """Flower Parameters as numpy arrays: read-only views of the bytes for
    "numpy.ndarray" tensors, flwr's parameters_to_ndarrays otherwise."""
    if parameters.tensor_type == "numpy.ndarray":
        try:
            return [_npy_view(t) for t in parameters.tensors]
        except ValueError:
            pass
    return parameters_to_ndarrays(parameters)


def _is_float(a: np.ndarray) -> bool:
    return a.dtype.kind == "f" and a.dtype.itemsize in (2, 4, 8)


def _last_round(filt: Filter) -> int:
    """The last round in flsentry's state (its JSON "round"), 0 when there is
    none or the plugin's state is not flsentry's JSON."""
    try:
        state = json.loads(filt.save_state())
        value = state.get("round")
        return int(value) if isinstance(value, int) and value >= 0 else 0
    except Exception:
        return 0


class FilteredStrategy(Strategy):
    """Wraps any Flower Strategy: aggregate_fit runs the flsentry filter on the
    round's results and hands the kept ones, weights applied, to ``strategy``.
    Every other method is the wrapped strategy's.

    strategy: the strategy that aggregates (FedAvg, FedProx, FedAdam, ...).
    filter: a ready :class:`~flsentry.Filter`; or ``policy`` (a policy file)
      or ``policy_yaml`` (its text) to create one with ``plugin`` and
      ``base_dir`` (where the policy's state file and audit log go; default:
      the policy file's directory, or the current one for policy_yaml).
    client_id_key: the FitRes.metrics key holding a client's stable id; the
      proxy's cid when a result lacks it. Ids in metrics are what the client
      says: authenticate clients where that matters.
    round_offset: added to Flower's server_round to make the plugin's round
      number; "auto" = the last round in the loaded state (so rounds keep
      increasing across server restarts).
    """

    def __init__(
        self,
        strategy: Strategy,
        filter: Optional[Filter] = None,
        *,
        policy: Optional[PathLike] = None,
        policy_yaml: Optional[str] = None,
        plugin: Union[None, PathLike, Plugin] = None,
        base_dir: Optional[PathLike] = None,
        client_id_key: str = "client_id",
        round_offset: Union[int, str] = "auto",
    ) -> None:
        super().__init__()
        given = sum(x is not None for x in (filter, policy, policy_yaml))
        if given != 1:
            raise ValueError("give exactly one of filter, policy (a file) or policy_yaml")
        if filter is None:
            if policy is not None:
                filter = Filter.from_file(policy, base_dir=base_dir, plugin=plugin)
            else:
                filter = Filter(policy_yaml or "", base_dir=base_dir, plugin=plugin)
        self.strategy = strategy
        self.filter = filter
        self.client_id_key = client_id_key
        if round_offset == "auto":
            self.round_offset = _last_round(filter)
        else:
            self.round_offset = int(round_offset)
        self._sent: Dict[int, Parameters] = {}
        self.last_decisions: List[Decision] = []
        self.last_timing: Dict[str, float] = {}

    def __repr__(self) -> str:
        return f"FilteredStrategy({self.strategy!r}, {self.filter!r})"

    # ---- delegated --------------------------------------------------------
    def initialize_parameters(self, client_manager: ClientManager) -> Optional[Parameters]:
        return self.strategy.initialize_parameters(client_manager)

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> List[Tuple[ClientProxy, FitIns]]:
        # The round's global model: what the clients are sent to start from.
        self._sent = {server_round: parameters}
        return self.strategy.configure_fit(server_round, parameters, client_manager)

    def configure_evaluate(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> List[Tuple[ClientProxy, EvaluateIns]]:
        return self.strategy.configure_evaluate(server_round, parameters, client_manager)

    def aggregate_evaluate(
        self,
        server_round: int,
        results: List[Tuple[ClientProxy, EvaluateRes]],
        failures: List[Union[Tuple[ClientProxy, EvaluateRes], BaseException]],
    ) -> Tuple[Optional[float], Dict[str, Scalar]]:
        return self.strategy.aggregate_evaluate(server_round, results, failures)

    def evaluate(
        self, server_round: int, parameters: Parameters
    ) -> Optional[Tuple[float, Dict[str, Scalar]]]:
        return self.strategy.evaluate(server_round, parameters)

    # ---- filtered ---------------------------------------------------------
    def client_id(self, proxy: ClientProxy, res: FitRes) -> str:
        """The id the filter knows this result's client by."""
        value = (res.metrics or {}).get(self.client_id_key)
        return str(value) if value not in (None, "") else str(proxy.cid)

    def _updates(
        self, results: Sequence[Tuple[ClientProxy, FitRes]], global_arrays: List[np.ndarray]
    ) -> Tuple[List[Update], Dict[str, np.ndarray]]:
        floats = [i for i, a in enumerate(global_arrays) if _is_float(a)]
        global_model = {str(i): global_arrays[i] for i in floats}
        updates = []
        for proxy, res in results:
            try:
                arrays = parameters_as_arrays(res.parameters)
            except Exception:  # unreadable bytes from a client: dropped below
                arrays = []
            # A missing or non-float array leaves its name out: the plugin
            # drops the update as a shape mismatch (a strike), never a crash.
            tensors = {str(i): arrays[i] for i in floats if i < len(arrays) and _is_float(arrays[i])}
            if len(arrays) != len(global_arrays):
                tensors[f"extra:{len(arrays)}"] = np.zeros(1, np.float32)
            updates.append(
                Update(self.client_id(proxy, res), tensors, max(0, int(res.num_examples)), kind="weights")
            )
        return updates, global_model

    def aggregate_fit(
        self,
        server_round: int,
        results: List[Tuple[ClientProxy, FitRes]],
        failures: List[Union[Tuple[ClientProxy, FitRes], BaseException]],
    ) -> Tuple[Optional[Parameters], Dict[str, Scalar]]:
        start = time.perf_counter()
        sent = self._sent.pop(server_round, None)
        if not results:
            self.last_decisions = []
            return self.strategy.aggregate_fit(server_round, results, failures)
        if sent is None:
            raise RuntimeError(
                f"round {server_round}: no global model recorded; configure_fit of this "
                "wrapper must run before aggregate_fit"
            )
        updates, global_model = self._updates(results, parameters_as_arrays(sent))
        decisions = self.filter.filter_round(
            updates, round=self.round_offset + server_round, global_model=global_model
        )
        kept: List[Tuple[ClientProxy, FitRes]] = []
        for (proxy, res), d in zip(results, decisions):
            if not d.kept:
                continue
            n = res.num_examples if d.weight >= 1.0 else max(1, round(res.num_examples * d.weight))
            kept.append((proxy, res if n == res.num_examples else replace(res, num_examples=n)))
        plugin_s = self.filter.last_plugin_seconds
        wrapper_s = time.perf_counter() - start - plugin_s
        parameters, metrics = self.strategy.aggregate_fit(server_round, kept, failures)
        self.last_decisions = decisions
        self.last_timing = {"plugin_s": plugin_s, "wrapper_s": wrapper_s}
        out: Dict[str, Scalar] = dict(metrics or {})
        counts = {"accept": 0, "downweight": 0, "drop": 0}
        for d in decisions:
            counts[d.action] = counts.get(d.action, 0) + 1
        out.update(
            {
                "flsentry.accepted": counts["accept"],
                "flsentry.downweighted": counts["downweight"],
                "flsentry.dropped": counts["drop"],
                "flsentry.plugin_s": plugin_s,
                "flsentry.wrapper_s": wrapper_s,
                "flsentry.decisions": json.dumps([d.to_dict() for d in decisions]),
            }
        )
        return parameters, out
