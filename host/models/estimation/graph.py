"""The estimator's own view of a (sub-)network: nodes, pipes, incidence, tree and loops.

A supply or a return network is a directed graph of ``n_nodes`` nodes and ``n_pipes`` pipes.
One node is the *reference* (the station's supply or return header): its head is known and its
outflow balances the others. Every other node has a known outflow in every condition (zero at a
plain junction, the entrance flow at an entrance node, negative where water enters).

Conventions (used by every module of :mod:`host.models.estimation`):

- Incidence ``A`` (n_nodes × n_pipes): ``A[to, j] = +1``, ``A[from, j] = -1``, so that
  ``A @ G = q`` with ``q`` the node outflows (m³/h) and ``G`` the pipe flows (m³/h, positive
  from ``from`` to ``to``).
- Head loss ``dh_m = P[from] - P[to] = -Aᵀ P`` (m) and ``dh = S·|G|·G`` with ``S`` in
  m/(m³/h)² (the unit of the network file, ``s_m_per_m3h2``).
- Every flow is ``G = T q + C f``: ``T`` gives the spanning-tree flows for outflows ``q`` with
  zero flow in the cotree (chords), ``C`` (n_pipes × n_loops) is the fundamental loop basis and
  ``f`` are the chord flows.

The graph is immutable; everything derived (incidence, tree, loop basis, series chains) is
computed on demand from arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import breadth_first_order
from scipy.sparse.linalg import splu

from host.errors import EvenheatError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]


class GraphError(EvenheatError, ValueError):
    """The graph cannot be used: dangling pipe, disconnected node, bad reference..."""

    reason = "bad-graph"


@dataclass(frozen=True, eq=False)
class PipeGraph:
    """A network as the estimator sees it.

    Parameters
    ----------
    node_ids : tuple of str, shape (n_nodes,)
    pipe_ids : tuple of str, shape (n_pipes,)
    pipe_from, pipe_to : ndarray of int, shape (n_pipes,)
        Node indices of each pipe's ends; positive flow runs from ``pipe_from`` to ``pipe_to``.
    reference : int
        Index of the node whose head is the reference and whose outflow balances the others.
    head_measured : ndarray of bool, shape (n_nodes,)
        Where a head (pressure) sensor exists. The reference must be measured.
    outflow_node : ndarray of bool, shape (n_nodes,)
        Nodes whose outflow may be non-zero (entrances). Other non-reference nodes are plain
        junctions with zero outflow.
    known_s : ndarray of float, shape (n_pipes,)
        Known friction parameter in m/(m³/h)² (e.g. an entrance valve of known opening), NaN
        where unknown (the usual case).
    """

    node_ids: tuple[str, ...]
    pipe_ids: tuple[str, ...]
    pipe_from: IntArray
    pipe_to: IntArray
    reference: int
    head_measured: BoolArray
    outflow_node: BoolArray
    known_s: FloatArray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        n, b = len(self.node_ids), len(self.pipe_ids)
        object.__setattr__(self, "pipe_from", np.asarray(self.pipe_from, dtype=np.intp))
        object.__setattr__(self, "pipe_to", np.asarray(self.pipe_to, dtype=np.intp))
        object.__setattr__(self, "head_measured", np.asarray(self.head_measured, dtype=bool))
        object.__setattr__(self, "outflow_node", np.asarray(self.outflow_node, dtype=bool))
        ks = np.asarray(self.known_s, dtype=float)
        if ks.size == 0:
            ks = np.full(b, np.nan)
        object.__setattr__(self, "known_s", ks)
        problems: list[str] = []
        if len(set(self.node_ids)) != n:
            problems.append("duplicate node id")
        if len(set(self.pipe_ids)) != b:
            problems.append("duplicate pipe id")
        for name, arr, size in (
            ("pipe_from", self.pipe_from, b),
            ("pipe_to", self.pipe_to, b),
            ("head_measured", self.head_measured, n),
            ("outflow_node", self.outflow_node, n),
            ("known_s", self.known_s, b),
        ):
            if arr.shape != (size,):
                problems.append(f"{name} has shape {arr.shape}, expected ({size},)")
        if not problems:
            bad = (self.pipe_from < 0) | (self.pipe_from >= n) | (self.pipe_to < 0)
            bad |= self.pipe_to >= n
            for j in np.flatnonzero(bad):
                problems.append(f"pipe {self.pipe_ids[j]!r} ends at an unknown node")
            for j in np.flatnonzero(self.pipe_from == self.pipe_to):
                problems.append(f"pipe {self.pipe_ids[j]!r} starts and ends at the same node")
            if not 0 <= self.reference < n:
                problems.append(f"reference node index {self.reference} out of range")
            elif not self.head_measured[self.reference]:
                problems.append("the reference node must have a head measurement")
            ok = np.isnan(self.known_s) | (self.known_s > 0)
            for j in np.flatnonzero(~ok):
                problems.append(f"pipe {self.pipe_ids[j]!r} has a known S that is not > 0")
        if problems:
            raise GraphError("; ".join(problems))
        if b and len(self.tree_order) != n:
            missing = sorted(set(range(n)) - set(self.tree_order.tolist()))
            names = ", ".join(self.node_ids[i] for i in missing[:10])
            raise GraphError(f"{len(missing)} node(s) not connected to the reference: {names}")

    # ------------------------------------------------------------------ sizes and lookups
    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_pipes(self) -> int:
        return len(self.pipe_ids)

    @property
    def n_loops(self) -> int:
        """Cyclomatic number b − n + 1 of the (connected) graph."""
        return self.n_pipes - self.n_nodes + 1

    @cached_property
    def node_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.node_ids)}

    @cached_property
    def pipe_index(self) -> dict[str, int]:
        return {name: j for j, name in enumerate(self.pipe_ids)}

    @cached_property
    def free_nodes(self) -> IntArray:
        """Indices of the non-reference nodes (rows of the reduced incidence)."""
        return np.flatnonzero(np.arange(self.n_nodes) != self.reference)

    # ------------------------------------------------------------------ matrices
    @cached_property
    def incidence(self) -> sp.csr_matrix:
        """A (n_nodes × n_pipes), +1 at ``to``, −1 at ``from``: ``A @ G = q``."""
        b = self.n_pipes
        rows = np.concatenate([self.pipe_to, self.pipe_from])
        cols = np.concatenate([np.arange(b), np.arange(b)])
        vals = np.concatenate([np.ones(b), -np.ones(b)])
        return sp.csr_matrix((vals, (rows, cols)), shape=(self.n_nodes, b))

    @cached_property
    def degree(self) -> IntArray:
        return np.bincount(
            np.concatenate([self.pipe_from, self.pipe_to]), minlength=self.n_nodes
        ).astype(np.intp)

    @cached_property
    def _bfs(self) -> tuple[IntArray, IntArray, IntArray]:
        """(order, predecessor, tree pipe of each node) of a BFS from the reference."""
        n = self.n_nodes
        lo = np.minimum(self.pipe_from, self.pipe_to)
        hi = np.maximum(self.pipe_from, self.pipe_to)
        key = lo * n + hi
        _, first = np.unique(key, return_index=True)  # one pipe per node pair
        adj = sp.csr_matrix((np.ones(len(first)), (lo[first], hi[first])), shape=(n, n))
        order, pred = breadth_first_order(
            adj, self.reference, directed=False, return_predecessors=True
        )
        pair_pipe = dict(zip(key[first].tolist(), first.tolist(), strict=True))
        tree_pipe = np.full(n, -1, dtype=np.intp)
        child = order[1:]
        parent = pred[child]
        keys = np.minimum(child, parent) * n + np.maximum(child, parent)
        tree_pipe[child] = [pair_pipe[k] for k in keys.tolist()]
        return order.astype(np.intp), pred.astype(np.intp), tree_pipe

    @property
    def tree_order(self) -> IntArray:
        return self._bfs[0]

    @cached_property
    def is_tree_pipe(self) -> BoolArray:
        mask = np.zeros(self.n_pipes, dtype=bool)
        tp = self._bfs[2]
        mask[tp[tp >= 0]] = True
        return mask

    @cached_property
    def tree_pipes(self) -> IntArray:
        return np.flatnonzero(self.is_tree_pipe)

    @cached_property
    def chords(self) -> IntArray:
        """Cotree pipes, one per independent loop."""
        return np.flatnonzero(~self.is_tree_pipe)

    @cached_property
    def _tree_lu(self) -> object:
        a_t = self.incidence[self.free_nodes][:, self.tree_pipes].tocsc()
        return splu(a_t, permc_spec="COLAMD")

    def tree_flows(self, q_m3h: FloatArray) -> FloatArray:
        """Pipe flows ``T q`` (cotree flows zero) for outflows q, shape (K, n_nodes) → (K, b).

        The reference's entry of ``q`` is ignored (it balances the rest).
        """
        q = np.atleast_2d(np.asarray(q_m3h, dtype=float))
        out = np.zeros((q.shape[0], self.n_pipes))
        if self.n_pipes == 0:
            return out
        rhs = q[:, self.free_nodes].T
        out[:, self.tree_pipes] = self._tree_lu.solve(np.ascontiguousarray(rhs)).T  # type: ignore[attr-defined]
        return out

    @cached_property
    def loop_basis(self) -> sp.csr_matrix:
        """C (n_pipes × n_loops): unit flow in chord l plus the tree flows that close it."""
        b, chords = self.n_pipes, self.chords
        n_l = len(chords)
        if n_l == 0:
            return sp.csr_matrix((b, 0))
        a_l = self.incidence[self.free_nodes][:, chords].toarray()
        tree_part = -self._tree_lu.solve(a_l)  # type: ignore[attr-defined]
        tree_part[np.abs(tree_part) < 0.5] = 0.0  # entries are exactly 0 or ±1
        t_rows, t_cols = np.nonzero(tree_part)
        rows = np.concatenate([self.tree_pipes[t_rows], chords])
        cols = np.concatenate([t_cols, np.arange(n_l)])
        vals = np.concatenate([np.rint(tree_part[t_rows, t_cols]), np.ones(n_l)])
        return sp.csr_matrix((vals, (rows, cols)), shape=(b, n_l))

    @cached_property
    def loop_dense(self) -> tuple[IntArray, FloatArray]:
        """(indices of the loop pipes, their rows of C as a dense (p × n_loops) array)."""
        lp = np.flatnonzero(self.in_loop)
        return lp, self.loop_basis[lp].toarray()

    @cached_property
    def loop_sparse(self) -> sp.csr_matrix:
        """The rows of C of the loop pipes (:attr:`loop_dense`), sparse."""
        return self.loop_basis[self.loop_dense[0]].tocsr()

    @cached_property
    def _loop_pairs(self) -> sp.csr_matrix:
        """(n_loops² × loop pipes): column p holds C_pl·C_pm at row l·n_loops + m."""
        lp, c = self.loop_dense
        n_l = c.shape[1]
        rows, cols, vals = [], [], []
        for p in range(lp.size):
            nz = np.flatnonzero(c[p])
            rows.append(np.full(nz.size**2, p))
            cols.append((nz[:, None] * n_l + nz[None, :]).ravel())
            vals.append(np.outer(c[p, nz], c[p, nz]).ravel())
        if not rows:
            return sp.csr_matrix((n_l * n_l, lp.size))
        return sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(cols), np.concatenate(rows))),
            shape=(n_l * n_l, lp.size),
        )

    def loop_gram(self, weight: FloatArray) -> FloatArray:
        """``Cᵀ diag(w_k) C`` over the loop pipes for every row w_k of ``weight`` (K, p).

        Returns (K, n_loops, n_loops). A pipe lies in few loops, so this sums sparse outer
        products: far cheaper than the dense product once there are many loops.
        """
        w = np.atleast_2d(np.asarray(weight, dtype=float))
        n_l = self.loop_dense[1].shape[1]
        return np.asarray(self._loop_pairs @ w.T).T.reshape(w.shape[0], n_l, n_l)

    @cached_property
    def in_loop(self) -> BoolArray:
        """Pipes that belong to at least one loop (their flow is not fixed by the outflows)."""
        return np.asarray(self.loop_basis.getnnz(axis=1) > 0)

    # ------------------------------------------------------------------ structure
    def series_chains(self, measured: BoolArray | None = None) -> list[IntArray]:
        """Groups of pipes in series through unmeasured, degree-2, zero-outflow nodes.

        Pipes of one chain carry the same flow (up to orientation) in every condition, so with
        heads measured only at the chain's ends only their sum of S is identifiable. Returns
        one index array per chain, including single pipes, ordered by first pipe.
        """
        meas = self.head_measured if measured is None else measured
        joint = (self.degree == 2) & ~meas & ~self.outflow_node
        joint[self.reference] = False
        parent = np.arange(self.n_pipes)

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = int(parent[x])
            return x

        for node in np.flatnonzero(joint):
            ends = np.flatnonzero((self.pipe_from == node) | (self.pipe_to == node))
            if len(ends) == 2:
                ra, rb = find(int(ends[0])), find(int(ends[1]))
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
        roots = np.array([find(j) for j in range(self.n_pipes)], dtype=np.intp)
        groups: dict[int, list[int]] = {}
        for j, r in enumerate(roots.tolist()):
            groups.setdefault(r, []).append(j)
        return [np.array(v, dtype=np.intp) for _, v in sorted(groups.items())]

    def boundary_nodes(self, pipes: Sequence[int] | IntArray) -> IntArray:
        """Nodes of a pipe set that touch the rest of the network, an outflow or the reference."""
        pipes = np.asarray(pipes, dtype=np.intp)
        inside = np.zeros(self.n_pipes, dtype=bool)
        inside[pipes] = True
        nodes: IntArray = np.unique(np.concatenate([self.pipe_from[pipes], self.pipe_to[pipes]]))
        outside = np.zeros(self.n_nodes, dtype=bool)
        np.logical_or.at(outside, self.pipe_from[~inside], True)
        np.logical_or.at(outside, self.pipe_to[~inside], True)
        keep: BoolArray = outside[nodes] | self.outflow_node[nodes] | (nodes == self.reference)
        return nodes[keep]


def graph_from_edges(
    edges: Sequence[tuple[str, str, str]],
    reference: str,
    *,
    measured: Sequence[str] | None = None,
    outflow_nodes: Sequence[str] | None = None,
    known_s: dict[str, float] | None = None,
) -> PipeGraph:
    """Build a :class:`PipeGraph` from ``(pipe_id, from_node, to_node)`` triples.

    ``measured`` defaults to every node; ``outflow_nodes`` to every non-reference node.
    """
    nodes: dict[str, int] = {reference: 0}
    for _, a, b in edges:
        nodes.setdefault(a, len(nodes))
        nodes.setdefault(b, len(nodes))
    ids = tuple(nodes)
    n = len(ids)
    meas = np.ones(n, dtype=bool) if measured is None else np.isin(ids, list(measured))
    meas[0] = True
    if outflow_nodes is None:
        outflow = np.ones(n, dtype=bool)
    else:
        outflow = np.isin(ids, list(outflow_nodes))
    outflow[0] = False
    ks = np.full(len(edges), np.nan)
    for j, (pid, _, _) in enumerate(edges):
        if known_s and pid in known_s:
            ks[j] = known_s[pid]
    return PipeGraph(
        node_ids=ids,
        pipe_ids=tuple(e[0] for e in edges),
        pipe_from=np.array([nodes[e[1]] for e in edges], dtype=np.intp),
        pipe_to=np.array([nodes[e[2]] for e in edges], dtype=np.intp),
        reference=0,
        head_measured=meas,
        outflow_node=outflow,
        known_s=ks,
    )
