"""The evenheat host service: gathers every board over MQTT, stores, estimates, decides."""

__version__ = "0.1.0"
