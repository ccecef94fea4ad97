"""The one place that chooses the array library: `from edge.xnp import np, FLOAT`.

- On a board: ulab's `numpy` (a C module built into our firmware).
- On CPython (host, simulator, pytest): numpy, whose API ulab's numpy is a subset of.
- On the MicroPython unix port (no ulab, no numpy): `edge.ulab_standin`, a small pure-Python
  implementation of exactly the part of ulab that edge/ uses, with ulab's semantics.

Edge code calls only names that ulab's numpy has (a test checks). `FLOAT` is the float dtype:
`np.float` on ulab and the stand-in, `np.float64` on numpy (numpy has no `np.float`).
`BACKEND` says which one is in use ("ulab", "numpy" or "standin").
"""

try:
    from ulab import numpy as np  # type: ignore[import-not-found]

    BACKEND = "ulab"
except ImportError:
    try:
        import numpy as _numpy  # type: ignore[import-not-found]

        np = _numpy  # type: ignore[no-redef]
        BACKEND = "numpy"
    except ImportError:
        from edge import ulab_standin as np  # type: ignore[no-redef]

        BACKEND = "standin"

if BACKEND == "numpy":
    FLOAT = _numpy.float64
else:
    FLOAT = np.float  # type: ignore[attr-defined]
