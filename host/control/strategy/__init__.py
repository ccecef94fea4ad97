"""Balancing strategies: from what the boards report to the targets the host pushes down."""
