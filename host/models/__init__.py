"""Numerical models of the network: steady-state hydraulics and pipe friction estimation."""
