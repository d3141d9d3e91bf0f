"""No module of the package leaves the interpreter's recursion limit raised (issue 9, finding 1).

py-evm and py_ecc raise it to 100,000 on import; then ``json.loads`` of a deeply nested body overflows the C
stack (SIGSEGV) instead of raising. Checked in a fresh interpreter: every module of ``transactive`` imported
one by one, and the limit compared with the interpreter's default after each.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

PROBE = r"""
import importlib, json, pkgutil, sys
start = sys.getrecursionlimit()
import transactive
raised = []
for info in pkgutil.walk_packages(transactive.__path__, "transactive."):
    if info.name.endswith("__main__"):
        continue
    importlib.import_module(info.name)
    if sys.getrecursionlimit() != start:
        raised.append((info.name, sys.getrecursionlimit()))
        sys.setrecursionlimit(start)
import eth, py_ecc, web3, eth_account  # the raising packages themselves, after transactive
if sys.getrecursionlimit() != start:
    raised.append(("eth/py_ecc/web3/eth_account", sys.getrecursionlimit()))
try:
    json.loads("[" * 100_000 + "]" * 100_000)
except RecursionError:
    pass
print(json.dumps({"start": start, "raised": raised}))
"""


def test_importing_every_module_keeps_the_recursion_limit() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=600,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}, check=False)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])  # -11 would be the SIGSEGV
    import json

    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["start"] < 10_000
    assert report["raised"] == []

