"""What importing and training with minigrad change in the process around it."""
import os

import pytest


def _rss_script(body):
    import subprocess
    import sys
    import textwrap
    code = textwrap.dedent("""
        import os
        import numpy as np
        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        def freed_stays_resident():
            before = rss()
            a = np.ones(4_000_000)          # 32 MB
            del a
            return rss() - before > 16e6
    """) + textwrap.dedent(body)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux only")
def test_import_changes_no_process_wide_allocator_setting():
    """Importing minigrad leaves glibc's defaults: a large array freed after the import
    goes back to the OS. The first optimizer step turns the allocator cache on (freed
    memory then stays for reuse), unless the user turned it off before."""
    out = _rss_script("""
        import minigrad as mg
        print(freed_stays_resident())
        p = mg.nn.Parameter(np.ones(3, np.float32))
        p.grad = mg.ones(3)
        mg.optim.SGD([p], lr=0.1).step()
        print(freed_stays_resident())
    """)
    assert out == ["False", "True"]
    out = _rss_script("""
        import minigrad as mg
        mg.tuning.set_cpu_allocator_cache(False)
        p = mg.nn.Parameter(np.ones(3, np.float32))
        p.grad = mg.ones(3)
        mg.optim.SGD([p], lr=0.1).step()
        print(freed_stays_resident())
    """)
    assert out == ["False"]


def _run(code, **env):
    import subprocess
    import sys
    import textwrap
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, env={**os.environ, **env})
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


_STEP = """
    import minigrad as mg, numpy as np
    from minigrad import tuning
    blas = tuning._blas_threads()
    print(blas, tuning.cpu_threads())
    p = mg.nn.Parameter(np.ones(3, np.float32))
    p.grad = mg.ones(3)
    mg.optim.SGD([p], lr=0.1).step()
    print(tuning._blas_threads(), tuning.cpu_threads(), tuning._usable_cores())
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="Linux only")
def test_threads_are_turned_on_by_the_first_training_step_not_by_the_import():
    """Importing minigrad leaves BLAS's threads as they are; the first optimizer step
    runs minigrad's own threads, one per usable core, with BLAS on one thread (where
    OpenBLAS is found). MINIGRAD_CPU_THREADS=1 keeps everything as it was."""
    out = _run(_STEP, OPENBLAS_NUM_THREADS="2")
    before, after = out[:2], out[2:]
    if before[0] == "None":
        pytest.skip("no OpenBLAS whose threads minigrad can set")
    assert before == ["2", "1"]
    cores = after[2]
    assert after == (["1", cores, cores] if int(cores) > 1 else ["2", "1", "1"])
    out = _run(_STEP, OPENBLAS_NUM_THREADS="2", MINIGRAD_CPU_THREADS="1")
    assert out == ["2", "1", "2", "1", out[-1]]
