"""Assertion helpers that work the same on CPython (pytest) and on MicroPython."""


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception it raised; fail when it raised nothing or another type."""
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        return exc
    raise AssertionError("expected {} from {}".format(exc_type.__name__, fn))


def repo_path(relative):
    """Absolute path of a repository file (this file is <root>/tests/mp/mpcheck.py)."""
    here = __file__.replace("\\", "/")
    root = here.rsplit("/", 3)[0] if here.count("/") >= 3 else "."
    return root + "/" + relative


def load_json(relative):
    import json

    with open(repo_path(relative)) as f:
        return json.load(f)
