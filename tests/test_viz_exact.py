"""The graph drawings, exactly: the DOT and Mermaid text of a graph with every kind of
node, the labels, and what plot_graph puts on the axes (boxes, values, gradients,
arrows, layout)."""
import sys
import types

import numpy as np
import pytest

import minigrad as mg
from minigrad import viz
from minigrad.nn.module import Parameter


def small_graph():
    a = mg.tensor([1.23456, 2e-9], requires_grad=True)
    w = Parameter(np.array([0.5, -1.0]))
    u = mg.tensor([3.0, 4.0], requires_grad=True)
    return (a * w + u).sum(), a


NODES = [("t0", "(scalar)", "output"), ("f0", "Sum", "op"), ("t1", "(2)", "tensor"),
         ("f1", "Add", "op"), ("t2", "(2)", "tensor"), ("t3", "leaf (2)", "input"),
         ("f2", "Mul", "op"), ("t4", "a (2)", "input"), ("t5", "param (2)", "param")]
EDGES = [("f0", "t0"), ("t1", "f0"), ("f1", "t1"), ("t2", "f1"), ("t3", "f1"),
         ("f2", "t2"), ("t4", "f2"), ("t5", "f2")]


def test_graph_lists_every_node_with_its_label_and_kind():
    c, a = small_graph()
    assert viz.graph(c, {"a": a}) == (NODES, EDGES)
    c.backward()                                 # the graph is freed: only the root's op
    assert viz.graph(c) == ([("t0", "(scalar)", "output"), ("f0", "Sum (freed)", "op")],
                            [("f0", "t0")])


def test_to_dot_text():
    c, a = small_graph()
    dot = viz.to_dot(c, {"a": a})
    assert isinstance(dot, viz.DotGraph)
    op = 'shape=box style="rounded,filled" fillcolor="#ffe9b3"'
    assert dot == "\n".join([
        "digraph minigrad {", "  rankdir=BT;",
        '  t0 [label="(scalar)" shape=box style=filled fillcolor="#dbe9ff"];',
        f'  f0 [label="Sum" {op}];', '  t1 [label="(2)" shape=box];',
        f'  f1 [label="Add" {op}];', '  t2 [label="(2)" shape=box];',
        '  t3 [label="leaf (2)" shape=box];', f'  f2 [label="Mul" {op}];',
        '  t4 [label="a (2)" shape=box];',
        '  t5 [label="param (2)" shape=box style=filled fillcolor="#d9f2d9" peripheries=2];']
        + [f"  {x} -> {y};" for x, y in EDGES] + ["}"])


def test_to_mermaid_text():
    c, a = small_graph()
    mm = viz.to_mermaid(c, {"a": a})
    assert mm == "\n".join([
        "flowchart BT", '  t0["(scalar)"]:::output', '  f0(["Sum"]):::op',
        '  t1["(2)"]:::tensor', '  f1(["Add"]):::op', '  t2["(2)"]:::tensor',
        '  t3["leaf (2)"]:::input', '  f2(["Mul"]):::op', '  t4["a (2)"]:::input',
        '  t5[["param (2)"]]:::param'] + [f"  {x} --> {y}" for x, y in EDGES] + [
        "  classDef op fill:#ffe9b3,stroke:#b58900",
        "  classDef param fill:#d9f2d9,stroke:#2e7d32",
        "  classDef output fill:#dbe9ff,stroke:#1f5fbf"])
    assert mm._repr_markdown_() == f"```mermaid\n{mm}\n```"
    assert viz.to_mermaid(c, direction="LR").startswith("flowchart LR\n")


def test_labels_quote_names_safely_and_show_shapes():
    x = mg.tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    y.name = 'say "hi"'
    assert viz.graph(y)[0][0] == ("t0", "say 'hi' (2×3)".replace("'", '"'), "output")
    assert '[label="say \'hi\' (2×3)"' in viz.to_dot(y)
    assert 't0["say \'hi\' (2×3)"]:::output' in viz.to_mermaid(y)
    assert viz.graph(x, {"x": x})[0] == [("t0", "x (2×3)", "output")]


def test_a_graph_of_something_else_is_a_type_error():
    with pytest.raises(TypeError) as err:
        viz.graph(np.ones(2))
    assert str(err.value) == "graph: expected a Tensor, got ndarray"


def test_a_tensor_used_twice_is_one_node():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    nodes, edges = viz.graph(x * x)
    assert [n[0] for n in nodes] == ["t0", "f0", "t1"]
    assert edges == [("f0", "t0"), ("t1", "f0"), ("t1", "f0")]


def test_short_values():
    assert viz._short(np.arange(5.0)) == "(5,) array"
    assert viz._short(np.arange(4.0)) == "[0., 1., 2., 3.]"
    assert viz._short(np.array([1.23456, 2e-9])) == "[1.235, 0.   ]"
    assert viz._short(np.arange(6.0), limit=6) == "[0., 1., 2., 3., 4., 5.]"


def test_the_svg_of_a_dot_graph_comes_from_graphviz(monkeypatch):
    piped = []

    class Source:
        def __init__(self, text):
            self.text = text

        def pipe(self, format):
            piped.append((self.text, format))
            return b"<svg/>"
    monkeypatch.setitem(sys.modules, "graphviz", types.SimpleNamespace(Source=Source))
    dot = viz.to_dot(mg.tensor([1.0]) * 2)
    assert dot._repr_svg_() == "<svg/>"
    assert piped == [(str(dot), "svg")] and type(piped[0][0]) is str
    monkeypatch.setitem(sys.modules, "graphviz", None)        # not installed
    assert dot._repr_svg_() is None


def test_plot_graph_draws_each_node_in_columns_by_depth():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    a = mg.tensor([1.23456, 2e-9], requires_grad=True)
    b = a * 3
    b.retain_grad()
    c = b.sum()
    c.backward(retain_graph=True)
    ax = viz.plot_graph(c, {"a": a})
    w, h = ax.figure.get_size_inches()
    assert (w, h) == pytest.approx((2.6 * 5, 1.3 * 2 + 1))  # 5 columns, the first of two
    boxes = {t.get_text(): (t.get_position(), t.get_bbox_patch().get_facecolor(),
                            t.get_fontsize(), t.get_ha(), t.get_va())
             for t in ax.texts if t.get_text()}
    grey, yellow = (0.933, 0.933, 0.933, 1.0), (1.0, 0.914, 0.702, 1.0)
    blue = (0.859, 0.914, 1.0, 1.0)
    want = {"a (2)\nvalue [1.235, 0.   ]\ngrad [3., 3.]": ((0, -0.5), grey),
            "const 3": ((0, 0.5), grey),             # a Python number: no value line
            "Mul": ((1, 0), yellow),
            "(2)\nvalue [3.704, 0.   ]\ngrad [1., 1.]": ((2, 0), grey),
            "Sum": ((3, 0), yellow),
            "(scalar)\nvalue 3.704": ((4, 0), blue)}  # the root keeps no gradient
    assert sorted(boxes) == sorted(want)
    for text, (pos, color) in want.items():
        got_pos, got_color, size, ha, va = boxes[text]
        assert tuple(got_pos) == pos and (size, ha, va) == (8, "center", "center")
        np.testing.assert_allclose(got_color, color, atol=2e-3)
    for t in ax.texts:
        if t.get_text():
            np.testing.assert_allclose(t.get_bbox_patch().get_edgecolor(),
                                       (0.502, 0.502, 0.502, 1.0), atol=2e-3)
    arrows = [a for a in ax.texts if not a.get_text()]
    assert {a.arrow_patch.get_arrowstyle().__class__.__name__ for a in arrows} == {"CurveB"}
    ends = sorted(tuple(a.xyann) + tuple(a.xy) for a in arrows)     # "->": tail to head
    np.testing.assert_allclose(ends, sorted([(3.32, 0, 3.68, 0), (2.32, 0, 2.68, 0),
                                             (1.32, 0, 1.68, 0), (0.32, -0.5, 0.68, 0),
                                             (0.32, 0.5, 0.68, 0)]), atol=1e-12)
    for a in ax.texts:
        if not a.get_text():
            np.testing.assert_allclose(a.arrow_patch.get_edgecolor(),
                                       (0.502, 0.502, 0.502, 1.0), atol=2e-3)
    assert ax.get_xlim() == (-0.6, 4.6) and ax.get_ylim() == (-1.2, 1.2)
    assert not ax.axison
    plt.close(ax.figure)


def test_plot_graph_stacks_a_column_and_draws_on_given_axes():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x = mg.tensor([1.0, 2.0, 3.0, 4.0, 5.0], requires_grad=True)
    y = mg.tensor([1.0], requires_grad=True)
    z = x * y
    fig, ax = plt.subplots()
    assert viz.plot_graph(z, ax=ax) is ax
    pos = {t.get_text().split("\n")[0]: tuple(t.get_position()) for t in ax.texts
           if t.get_text()}
    assert pos == {"leaf (5)": (0, -0.5), "leaf (1)": (0, 0.5), "Mul": (1, 0),
                   "(5)": (2, 0)}
    assert "value (5,) array" in [t.get_text().split("\n")[1] for t in ax.texts
                                  if t.get_text().startswith("leaf (5)")]
    assert ax.get_xlim() == (-0.6, 2.6) and ax.get_ylim() == (-1.2, 1.2)
    assert tuple(fig.get_size_inches()) == tuple(plt.rcParams["figure.figsize"])
    plt.close(fig)
    wide = mg.tensor([1.0], requires_grad=True)
    for _ in range(8):
        wide = wide * 2
    ax = viz.plot_graph(wide)
    assert tuple(ax.figure.get_size_inches()) == (16, 10)   # 17 columns, 9 rows: capped
    plt.close(ax.figure)


def test_a_node_reached_twice_is_walked_once():
    """An intermediate tensor used twice, and a Function with two outputs both used: one
    node each, one edge per use."""
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    nodes, edges = viz.graph(y * y)
    assert [n[:2] for n in nodes] == [("t0", "(2)"), ("f0", "Mul"), ("t1", "(2)"),
                                      ("f1", "Mul"), ("t2", "leaf (2)"), ("t3", "const 2")]
    assert edges == [("f0", "t0"), ("t1", "f0"), ("t1", "f0"), ("f1", "t1"), ("t2", "f1"),
                     ("t3", "f1")]
    from test_autograd import SplitHalves
    a, b = SplitHalves().apply(mg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True))
    nodes, edges = viz.graph(a * b)
    assert [n[1] for n in nodes] == ["(2)", "Mul", "(2)", "(2)", "SplitHalves", "leaf (4)"]
    assert edges == [("f0", "t0"), ("t1", "f0"), ("t2", "f0"), ("f1", "t2"), ("t3", "f1"),
                     ("f1", "t1")]
