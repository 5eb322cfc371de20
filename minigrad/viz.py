"""Drawing the computation graph behind a tensor: Mermaid flowcharts and Graphviz DOT.

    >>> y = (a * b + a).sum()
    >>> mg.viz.to_mermaid(y)          # displays inline in Jupyter; str() is the source

Tensors are boxes labelled with their name (or role) and shape; parameters are marked;
ops are rounded nodes; edges run from inputs to ops to outputs.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

from .tensor import Tensor

__all__ = ["to_mermaid", "to_dot", "graph", "MermaidGraph", "DotGraph"]


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


def graph(root: Tensor, names: Dict[str, Tensor] = None):
    """The graph behind ``root`` as (nodes, edges).

    Returns:
        nodes: list of (node id, label, kind) with kind in 'op', 'param', 'input',
            'tensor', 'const', 'output'.
        edges: list of (from id, to id).
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"graph: expected a Tensor, got {type(root).__name__}")
    names = {id(t): n for n, t in (names or {}).items()}
    nodes: List[tuple] = []
    edges: List[tuple] = []
    seen_t, seen_f = {}, {}

    def tnode(t):
        key = id(t)
        if key not in seen_t:
            seen_t[key] = f"t{len(seen_t)}"
            label, kind = _tensor_label(t, names)
            nodes.append((seen_t[key], label, "output" if t is root else kind))
        return seen_t[key]

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
            label = type(f).__name__ + (" (freed)" if f.inputs is None else "")
            nodes.append((seen_f[id(f)], label, "op"))
        edges.append((seen_f[id(f)], tnode(t)))
        if fresh and f.inputs is not None:
            for x in f.inputs:
                new = id(x) not in seen_t
                edges.append((tnode(x), seen_f[id(f)]))
                if new:
                    stack.append(x)
    return nodes, edges


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
