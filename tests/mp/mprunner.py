"""Runs one dual-runtime test module under MicroPython: `micropython mprunner.py MODULE`.

Prints `PASS name` or `FAIL name: error` per test and exits non-zero on any failure or when
the module has no test. Kept tiny so it works on the unix port and on a board alike.
"""

import sys


def main(name):
    module = __import__(name)
    names = sorted(n for n in dir(module) if n.startswith("test_"))
    failed = 0
    for n in names:
        fn = getattr(module, n)
        try:
            fn()
            print("PASS", n)
        except Exception as exc:  # noqa: BLE001 - report every failure, keep going
            failed += 1
            print("FAIL", n + ":", repr(exc))
            sys.print_exception(exc)
    print("RESULT passed={} failed={}".format(len(names) - failed, failed))
    if failed or not names:
        sys.exit(1)


main(sys.argv[1])
