"""Room temperatures for every household, measured or not (智能室温's estimate).

`heat_balance`: the flat's physics (radiator output by EN 442, loss to outdoors) and its
inversion for the room temperature; `estimate`: the calibration on the sensed flats and the
estimate, with its standard error, for every household of a station. Pure: arrays in,
arrays out; the service gathers the inputs and stores the outputs.
"""
