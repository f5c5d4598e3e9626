"""Public alias of :mod:`rddml.data.datasets` (the import path README and notebooks show).

The module object is the same one, so attributes (and monkeypatching) are shared.
"""

from __future__ import annotations

import sys

from rddml.data import datasets as _module

sys.modules[__name__] = _module
