"""The digital twin: plant (hydraulics, building thermal model, weather, devices) and virtual
boards running the real edge/ code on a simulated hardware layer."""
