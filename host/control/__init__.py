"""What the host decides and commands: desired state with acks, alarms, the balancing loop and
its strategies."""
