"""The service runtime (`evenheat serve`): its configuration, the MQTT link, ingest and board
state, and the thread that runs them with the balancer (`runtime.Service`)."""
