"""Drawing the computation graph behind a tensor: Mermaid flowcharts, Graphviz DOT, and a
matplotlib picture with the values and gradients (``plot_graph``).

    >>> y = (a * b + a).sum()
    >>> mg.viz.to_mermaid(y)          # displays inline in Jupyter; str() is the source

Tensors are boxes labelled with their name (or role) and shape; parameters are marked;
ops are rounded nodes; edges run from inputs to ops to outputs.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

from .tensor import Tensor

__all__ = ["to_mermaid", "to_dot", "graph", "plot_graph", "MermaidGraph", "DotGraph"]


class MermaidGraph(str):
    """Mermaid source that renders itself in Jupyter (as a ```mermaid block)."""

    def _repr_markdown_(self):
        return f"```mermaid\n{self}\n```"


class DotGraph(str):
    """Graphviz DOT source; rendered as SVG in Jupyter when the graphviz package is there."""

    def _repr_svg_(self):
        try:
            import graphviz
        except ImportError:
            return None
        return graphviz.Source(str(self)).pipe(format="svg").decode()


def _tensor_label(t: Tensor, names: Dict[int, str]) -> Tuple[str, str]:
    from .nn.module import Parameter
    kind = "param" if isinstance(t, Parameter) else (
        "const" if not hasattr(t.data, "shape") else
        ("input" if t.creator is None else "tensor"))
    name = t.name or names.get(id(t))
    if kind == "const":
        return f"const {t.data!r}", kind
    shape = "×".join(str(s) for s in t.data.shape) or "scalar"
    head = name or {"param": "param", "input": "leaf", "tensor": ""}[kind]
    return (f"{head} ({shape})" if head else f"({shape})"), kind


def _walk(root: Tensor):
    """The graph behind ``root``: ({node id: Tensor or Function}, [(from id, to id)]),
    tensors 't0', 't1', ... (root first) and ops 'f0', 'f1', ..."""
    if not isinstance(root, Tensor):
        raise TypeError(f"graph: expected a Tensor, got {type(root).__name__}")
    objs, edges = {}, []
    seen_t, seen_f = {}, {}

    def tnode(t):
        if id(t) not in seen_t:
            seen_t[id(t)] = f"t{len(seen_t)}"
            objs[seen_t[id(t)]] = t
        return seen_t[id(t)]

    stack = [root]
    tnode(root)
    while stack:
        t = stack.pop()
        f = t.creator
        if f is None:
            continue
        fresh = id(f) not in seen_f
        if fresh:
            seen_f[id(f)] = f"f{len(seen_f)}"
            objs[seen_f[id(f)]] = f
        edges.append((seen_f[id(f)], tnode(t)))
        if fresh and f.inputs is not None:
            for x in f.inputs:
                new = id(x) not in seen_t
                edges.append((tnode(x), seen_f[id(f)]))
                if new:
                    stack.append(x)
    return objs, edges


def graph(root: Tensor, names: Dict[str, Tensor] = None):
    """The graph behind ``root`` as (nodes, edges).

    Returns:
        nodes: list of (node id, label, kind) with kind in 'op', 'param', 'input',
            'tensor', 'const', 'output'.
        edges: list of (from id, to id).
    """
    objs, edges = _walk(root)
    names = {id(t): n for n, t in (names or {}).items()}
    nodes: List[tuple] = []
    for nid, o in objs.items():
        if isinstance(o, Tensor):
            label, kind = _tensor_label(o, names)
            nodes.append((nid, label, "output" if o is root else kind))
        else:
            nodes.append((nid, type(o).__name__ + (" (freed)" if o.inputs is None else ""),
                          "op"))
    return nodes, edges


def _short(a, limit=4) -> str:
    import numpy as np
    a = np.asarray(a)
    if a.size > limit:
        return f"{a.shape} array"
    return np.array2string(a, precision=3, separator=", ", suppress_small=True)


def plot_graph(root: Tensor, names: Dict[str, Tensor] = None, ax=None):
    """Draw the graph behind ``root`` with matplotlib (imported here): inputs on the left,
    ``root`` on the right; each tensor box shows its name, its value and, once computed,
    its gradient (``.grad``: leaves after ``backward()``, other tensors with
    ``retain_grad()``); ops are the yellow boxes between. Returns the axes."""
    import matplotlib.pyplot as plt
    objs, edges = _walk(root)
    labels = dict((nid, label) for nid, label, _ in graph(root, names)[0])
    depth = {nid: 0 for nid in objs}
    for _ in range(len(objs)):                    # longest path from the inputs
        changed = False
        for a, b in edges:
            if depth[b] < depth[a] + 1:
                depth[b], changed = depth[a] + 1, True
        if not changed:
            break
    columns: Dict[int, List[str]] = {}
    for nid in objs:
        columns.setdefault(depth[nid], []).append(nid)
    pos = {nid: (d, i - (len(col) - 1) / 2) for d, col in columns.items()
           for i, nid in enumerate(sorted(col))}
    if ax is None:
        width = 2.6 * (max(columns) + 1)
        height = 1.3 * max(len(c) for c in columns.values()) + 1
        _, ax = plt.subplots(figsize=(min(width, 16), min(height, 10)))
    for a, b in edges:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        ax.annotate("", xy=(xb - 0.32, yb), xytext=(xa + 0.32, ya),
                    arrowprops=dict(arrowstyle="->", color="grey"))
    for nid, o in objs.items():
        x, y = pos[nid]
        if isinstance(o, Tensor):
            text = labels[nid]
            if hasattr(o.data, "shape"):
                text += f"\nvalue {_short(o.numpy())}"
            if o.grad is not None:
                text += f"\ngrad {_short(o.grad.numpy())}"
            color = "#dbe9ff" if o is root else "#eeeeee"
        else:
            text, color = labels[nid], "#ffe9b3"
        ax.text(x, y, text, ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round", fc=color, ec="grey"))
    ax.set_xlim(-0.6, max(columns) + 0.6)
    ax.set_ylim(min(p[1] for p in pos.values()) - 0.7, max(p[1] for p in pos.values()) + 0.7)
    ax.axis("off")
    return ax


def _escape(s: str) -> str:
    return s.replace('"', "'")


def to_mermaid(root: Tensor, names: Dict[str, Tensor] = None,
               direction: str = "BT") -> MermaidGraph:
    """A Mermaid flowchart of the graph that produced ``root``.

    Args:
        root: the tensor whose history to draw.
        names: optional ``{'x': x, ...}`` to label tensors.
        direction: Mermaid direction ('BT' draws inputs at the bottom, 'LR', 'TD').
    """
    nodes, edges = graph(root, names)
    lines = [f"flowchart {direction}"]
    for nid, label, kind in nodes:
        text = _escape(label)
        if kind == "op":
            lines.append(f'  {nid}(["{text}"]):::op')
        elif kind == "param":
            lines.append(f'  {nid}[["{text}"]]:::param')
        else:
            lines.append(f'  {nid}["{text}"]:::{kind}')
    for a, b in edges:
        lines.append(f"  {a} --> {b}")
    lines += ["  classDef op fill:#ffe9b3,stroke:#b58900",
              "  classDef param fill:#d9f2d9,stroke:#2e7d32",
              "  classDef output fill:#dbe9ff,stroke:#1f5fbf"]
    return MermaidGraph("\n".join(lines))


def to_dot(root: Tensor, names: Dict[str, Tensor] = None) -> DotGraph:
    """A Graphviz DOT description of the graph that produced ``root``."""
    nodes, edges = graph(root, names)
    style = {"op": 'shape=box style="rounded,filled" fillcolor="#ffe9b3"',
             "param": 'shape=box style=filled fillcolor="#d9f2d9" peripheries=2',
             "output": 'shape=box style=filled fillcolor="#dbe9ff"'}
    lines = ["digraph minigrad {", "  rankdir=BT;"]
    for nid, label, kind in nodes:
        lines.append(f'  {nid} [label="{_escape(label)}" {style.get(kind, "shape=box")}];')
    for a, b in edges:
        lines.append(f"  {a} -> {b};")
    lines.append("}")
    return DotGraph("\n".join(lines))
