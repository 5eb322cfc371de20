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
