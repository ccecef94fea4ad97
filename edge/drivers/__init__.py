"""Real hardware drivers behind edge.hal, one per file, imported only by edge.hwbuild.

Each takes pin and bus objects (or numbers) from the board definition and keeps its buffers
preallocated. None of them is imported on the host or in tests: they need `machine`.
"""
