"""The asset registry: stations, buildings, entrances, households and devices, and the import
of a network file into it."""
