"""Independent solvers as oracles and benchmark peers: EPANET (through WNTR) and pandapipes.

Used by tests and benchmarks only; the host never imports these modules. Both peers get the
same *open* network: the pipes of one of our networks with a reservoir at the station supply
node and one at the station return node instead of the pump loop, and the entrances as fixed
demands (out of the supply side, back into the return side). See :mod:`.open`.
"""
