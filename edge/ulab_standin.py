"""A pure-Python stand-in for the part of ulab's `numpy` that edge/ uses.

Only for the MicroPython unix port, which has neither ulab nor numpy; boards run the real ulab.
Semantics follow ulab: 1-D arrays of floats (and of booleans, the result of comparisons),
elementwise `+ - * /` and unary minus with scalars or equal-length arrays, comparisons that
give boolean arrays, and the module functions below. Anything else raises, so code that works
here and on CPython's numpy also works on ulab. Storage is `array('d')`, one allocation per
result, like ulab's C arrays.

Speed is not the point: it is roughly 10-50x slower than ulab on a board.
"""

# MicroPython's zip() has no strict= (lengths are checked where it matters).
# ruff: noqa: B905

from array import array as _array

float = 0x64  # noqa: A001 - ulab spells the dtype `np.float` ('d')
bool = 0x3F  # noqa: A001 - ulab's boolean dtype ('?')

_FLOAT = 0x64
_BOOL = 0x3F


class ndarray:  # noqa: N801 - ulab's name
    """A 1-D array: `data` is an array('d'), `dtype` is `float` or `bool`."""

    def __init__(self, data, dtype=_FLOAT):
        self.data = data
        self.dtype = dtype

    def __len__(self):
        return len(self.data)

    def __iter__(self):
        if self.dtype == _BOOL:
            return iter([x != 0.0 for x in self.data])
        return iter(self.data)

    def __getitem__(self, index):
        if type(index) is slice:
            return ndarray(self.data[index], self.dtype)
        value = self.data[index]
        return value != 0.0 if self.dtype == _BOOL else value

    def __setitem__(self, index, value):
        if type(index) is slice:
            if index.step is not None:
                raise NotImplementedError("the stand-in assigns only to a[start:stop]")
            n = len(self.data)
            start = 0 if index.start is None else index.start
            stop = n if index.stop is None else index.stop
            start = start + n if start < 0 else start
            stop = stop + n if stop < 0 else stop
            src = _operand(value, stop - start)
            for k in range(stop - start):
                self.data[start + k] = src[k]
        else:
            self.data[index] = value

    def tolist(self):
        return list(iter(self))

    def __repr__(self):
        kind = "bool" if self.dtype == _BOOL else "float"
        return "array({}, dtype={})".format(self.tolist(), kind)

    # Arithmetic always gives floats (ulab upcasts booleans to numbers).
    def __add__(self, other):
        b = _operand(other, len(self.data))
        return ndarray(_array("d", [x + y for x, y in zip(self.data, b)]))

    __radd__ = __add__

    def __sub__(self, other):
        b = _operand(other, len(self.data))
        return ndarray(_array("d", [x - y for x, y in zip(self.data, b)]))

    def __rsub__(self, other):
        b = _operand(other, len(self.data))
        return ndarray(_array("d", [y - x for x, y in zip(self.data, b)]))

    def __mul__(self, other):
        b = _operand(other, len(self.data))
        return ndarray(_array("d", [x * y for x, y in zip(self.data, b)]))

    __rmul__ = __mul__

    def __truediv__(self, other):
        b = _operand(other, len(self.data))
        return ndarray(_array("d", [_div(x, y) for x, y in zip(self.data, b)]))

    def __rtruediv__(self, other):
        b = _operand(other, len(self.data))
        return ndarray(_array("d", [_div(y, x) for x, y in zip(self.data, b)]))

    def __neg__(self):
        return ndarray(_array("d", [-x for x in self.data]))

    def __lt__(self, other):
        b = _operand(other, len(self.data))
        return _boolean([x < y for x, y in zip(self.data, b)])

    def __le__(self, other):
        b = _operand(other, len(self.data))
        return _boolean([x <= y for x, y in zip(self.data, b)])

    def __gt__(self, other):
        b = _operand(other, len(self.data))
        return _boolean([x > y for x, y in zip(self.data, b)])

    def __ge__(self, other):
        b = _operand(other, len(self.data))
        return _boolean([x >= y for x, y in zip(self.data, b)])

    def __eq__(self, other):  # type: ignore[override]
        b = _operand(other, len(self.data))
        return _boolean([x == y for x, y in zip(self.data, b)])

    def __ne__(self, other):  # type: ignore[override]
        b = _operand(other, len(self.data))
        return _boolean([x != y for x, y in zip(self.data, b)])

    __hash__ = None  # type: ignore[assignment]


def _div(x, y):
    if y == 0.0:
        if x == 0.0 or x != x:
            return _NAN
        return _INF if x > 0.0 else -_INF
    return x / y


_INF = 1e308 * 10.0
_NAN = _INF - _INF


def _boolean(values):
    return ndarray(_array("d", [1.0 if v else 0.0 for v in values]), _BOOL)


def _operand(value, n):
    """The elements of an ndarray, or a scalar repeated n times; lengths must agree."""
    if isinstance(value, ndarray):
        if len(value.data) != n:
            raise ValueError("operands could not be broadcast together")
        return value.data
    if isinstance(value, (int, type(0.5))):
        return _array("d", [value] * n)
    raise TypeError("unsupported operand")


def _length(*values):
    for v in values:
        if isinstance(v, ndarray):
            return len(v.data)
    raise TypeError("at least one argument must be an ndarray")


def array(values, dtype=_FLOAT):
    """ulab's np.array: a float (or bool) array from a list, tuple or array."""
    data = values.data if isinstance(values, ndarray) else values
    if dtype == _BOOL:
        return ndarray(_array("d", [1.0 if v else 0.0 for v in data]), _BOOL)
    if dtype != _FLOAT:
        raise TypeError("the stand-in supports only float and bool arrays")
    return ndarray(_array("d", [x for x in data]))


def zeros(n, dtype=_FLOAT):
    return ndarray(_array("d", [0.0] * n), dtype)


def ones(n, dtype=_FLOAT):
    return ndarray(_array("d", [1.0] * n), dtype)


def full(n, value, dtype=_FLOAT):
    return ndarray(_array("d", [value] * n), dtype)


def empty(n, dtype=_FLOAT):
    return zeros(n, dtype)


def minimum(a, b):
    n = _length(a, b)
    x, y = _operand(a, n), _operand(b, n)
    return ndarray(_array("d", [p if p < q or p != p else q for p, q in zip(x, y)]))


def maximum(a, b):
    n = _length(a, b)
    x, y = _operand(a, n), _operand(b, n)
    return ndarray(_array("d", [p if p > q or p != p else q for p, q in zip(x, y)]))


def clip(a, lo, hi):
    return minimum(maximum(a, lo), hi)


def where(condition, x, y):
    n = len(condition.data)
    a, b = _operand(x, n), _operand(y, n)
    return ndarray(_array("d", [p if c != 0.0 else q for c, p, q in zip(condition.data, a, b)]))


def isfinite(a):
    return _boolean([x == x and x != _INF and x != -_INF for x in a.data])


def sum(a):  # noqa: A001 - ulab's name
    total = 0.0
    for x in a.data:
        total += x
    return total


def mean(a):
    return sum(a) / len(a.data)


def max(a):  # noqa: A001 - ulab's name
    best = a.data[0]
    for x in a.data:
        if x > best:
            best = x
    return best


def min(a):  # noqa: A001 - ulab's name
    best = a.data[0]
    for x in a.data:
        if x < best:
            best = x
    return best


def all(a):  # noqa: A001 - ulab's name
    for x in a.data:
        if x == 0.0:
            return False
    return True


def any(a):  # noqa: A001 - ulab's name
    for x in a.data:
        if x != 0.0:
            return True
    return False
