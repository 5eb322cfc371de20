"""Graph drawings: structure (node and edge counts, labels) for known expressions."""
import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn


def test_graph_of_known_expression():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 4.0], requires_grad=True)
    y = (a * b + a).sum()
    nodes, edges = mg.viz.graph(y, names={"a": a, "b": b})
    ops = [label for _, label, kind in nodes if kind == "op"]
    assert sorted(ops) == ["Add", "Mul", "Sum"]
    tensors = [n for n in nodes if n[2] != "op"]
    assert len(tensors) == 5            # a, b, a*b, a*b+a, y
    assert len(edges) == 8              # a,b->Mul->t1 ; t1,a->Add->t2 ; t2->Sum->y
    labels = {label for _, label, _ in nodes}
    assert "a (2)" in labels and "b (2)" in labels
    assert [k for _, _, k in nodes].count("output") == 1


def test_mermaid_and_dot_text():
    layer = nn.Dense(3, input_shape=(4,))
    x = mg.randn(2, 4)
    loss = F.cross_entropy(layer(x), mg.tensor([0, 2]))
    m = mg.viz.to_mermaid(loss)
    assert m.startswith("flowchart BT")
    assert m.count("-->") == 6          # x, kernel, bias -> Linear -> logits -> CE -> loss
    assert m.count(":::param") == 2 and "Linear" in m and "CrossEntropy" in m
    assert m._repr_markdown_().startswith("```mermaid")
    d = mg.viz.to_dot(loss)
    assert d.startswith("digraph") and d.count("->") == 6 and "peripheries=2" in d


def test_constants_and_freed_graph():
    x = mg.tensor(2.0, requires_grad=True)
    y = x * 3.0
    nodes, edges = mg.viz.graph(y)
    assert any(kind == "const" for _, _, kind in nodes)
    y.backward()
    nodes, _ = mg.viz.graph(y)
    assert any("(freed)" in label for _, label, _ in nodes)


def test_plot_graph_shows_values_and_gradients():
    pytest = __import__("pytest")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    a = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = mg.tensor([4.0, 5.0, 6.0], requires_grad=True)
    y = (a * b + a).sum()
    y.backward(retain_graph=True)
    ax = mg.viz.plot_graph(y, names={"a": a, "b": b})
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("a (3)") and "grad [5., 6., 7.]" in t for t in texts)
    assert any(t.startswith("b (3)") and "grad [1., 2., 3.]" in t for t in texts)
    assert sorted(t for t in texts if t and "\n" not in t) == ["Add", "Mul", "Sum"]
    big = mg.tensor(np.ones(10), requires_grad=True)
    ax = mg.viz.plot_graph((big * 2).sum())
    assert any("(10,) array" in t.get_text() for t in ax.texts)
