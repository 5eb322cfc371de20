"""Data-parallel training over MPI: two ranks under mpiexec give the weights of one process
with the same global batch; a failing rank ends the job; without MPI a world of one."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TRAIN = textwrap.dedent("""
    import json, sys
    import numpy as np
    import minigrad as mg
    import minigrad.distributed as dist
    from minigrad.keras import callbacks, layers, models

    out, n = sys.argv[1], int(sys.argv[2])
    rank, size = dist.init()
    mg.set_default_dtype("float64")
    mg.manual_seed(0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 6))
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    m = models.Sequential([layers.Dense(8, activation="tanh", input_shape=(6,)),
                           layers.Dense(3, activation="softmax")])
    if rank == 1:
        m.layers[0].kernel.data += 1.0          # rank 0's weights must win at fit()
    m.compile(optimizer=mg.optim.Adam(learning_rate=0.05),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    log = callbacks.CSVLogger(out + "-log.csv")
    h = m.fit(x, y, batch_size=10, epochs=3, verbose=0, callbacks=[log],
              validation_data=(x[:7], y[:7]))
    ev = m.evaluate(x, y, batch_size=8, verbose=0)
    np.savez(f"{out}-{rank}.npz", **m.state_dict())
    with open(f"{out}-{rank}.json", "w") as f:
        json.dump({"history": h.history, "evaluate": ev, "size": size}, f)
""")


def mpiexec():
    pytest.importorskip("mpi4py")
    exe = shutil.which("mpiexec")
    if exe is None:
        pytest.skip("no mpiexec (pip install mpich)")
    return exe


def run(cmd, tmp_path, timeout=180):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
                          env=env)


@pytest.mark.parametrize("n", [37, 31])           # uneven; 31 leaves a last batch of one
def test_two_ranks_train_the_weights_of_one_process(tmp_path, n):
    exe = mpiexec()
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    one = run([sys.executable, str(script), str(tmp_path / "one"), str(n)], tmp_path)
    assert one.returncode == 0, one.stderr
    two = run([exe, "-n", "2", sys.executable, str(script), str(tmp_path / "two"), str(n)],
              tmp_path)
    assert two.returncode == 0, two.stdout + two.stderr
    ref = np.load(tmp_path / "one-0.npz")
    for r in (0, 1):
        got = np.load(tmp_path / f"two-{r}.npz")
        for k in ref.files:
            np.testing.assert_allclose(got[k], ref[k], rtol=1e-10, atol=1e-12, err_msg=k)
    a, b, c = (json.loads((tmp_path / f).read_text())
               for f in ("one-0.json", "two-0.json", "two-1.json"))
    assert b["size"] == c["size"] == 2 and a["size"] == 1
    for other in (b, c):                          # every rank reports the same numbers
        for k, v in a["history"].items():
            np.testing.assert_allclose(other["history"][k], v, rtol=1e-10, err_msg=k)
        np.testing.assert_allclose(other["evaluate"], a["evaluate"], rtol=1e-10)
    assert (tmp_path / "two-log.csv").read_text().count("\n") == 4   # rank 0 wrote it alone


def test_a_failing_rank_ends_the_job_with_its_message(tmp_path):
    exe = mpiexec()
    script = tmp_path / "fail.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        import minigrad.distributed as dist
        rank, size = dist.init()
        if rank == 1:
            raise ValueError("rank one broke")
        dist.all_reduce(np.ones(3))              # rank 0 would wait here forever
    """))
    start = time.monotonic()
    r = run([exe, "-n", "2", sys.executable, str(script)], tmp_path, timeout=60)
    assert r.returncode != 0
    assert time.monotonic() - start < 30
    assert "rank 1 of 2 failed" in r.stderr and "rank one broke" in r.stderr


def test_without_mpi4py_the_world_has_one_rank(tmp_path):
    code = textwrap.dedent("""
        import sys
        sys.modules["mpi4py"] = None             # as if it were not installed
        import numpy as np
        import minigrad.distributed as dist
        assert dist.init() == (0, 1) and dist.world_size() == 1 and dist.rank() == 0
        a = np.arange(3.0)
        assert dist.all_reduce(a, op="mean") is a and list(a) == [0.0, 1.0, 2.0]
        dist.barrier()
        print("ok")
    """)
    r = run([sys.executable, "-c", code], tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
