"""Transactive: peer-to-peer energy and negawatt trading for local energy communities.

The package is layered (see ``docs/architecture.md``); dependencies point downwards only:

* :mod:`transactive.units`, :mod:`transactive.orders`, :mod:`transactive.result` -- value types;
* :mod:`transactive.mechanisms` -- pure clearing functions, chosen through ``REGISTRY``;
* :mod:`transactive.marketfile` -- the ``transactive.market/1`` and ``transactive.result/1`` formats;
* :mod:`transactive.cli` -- the ``transactive`` command.
"""

from __future__ import annotations

from transactive import _recursion

_recursion.install()  # py-evm and py_ecc must not raise the recursion limit (see transactive._recursion)

__version__ = "0.1.0"
