"""Write a :class:`Network` as a network file (JSON), the inverse of the loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from host.models.hydraulics.loader import FORMAT_NAME, FORMAT_VERSION
from host.models.hydraulics.network import Network
from host.models.hydraulics.valves import Valve


def _valve(v: Valve) -> dict[str, Any]:
    return {
        "characteristic": v.characteristic.value,
        "kvs_m3h": v.kvs_m3h,
        "opening": v.opening,
        "rangeability": v.rangeability,
    }


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def network_to_dict(net: Network) -> dict[str, Any]:
    """The JSON document of ``net`` (floats as given, optional fields left out when None)."""
    st = net.station
    assert st.pump is not None
    pump = st.pump
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "name": net.name,
        "station": {
            "id": st.id,
            "supply_node": st.supply_node,
            "return_node": st.return_node,
            "supply_temp_c": st.supply_temp_c,
            "return_temp_c": st.return_temp_c,
            "return_pressure_kpa": st.return_pressure_kpa,
            "pump": {
                "curve": [
                    {"flow_m3h": q, "head_m": h}
                    for q, h in zip(pump.curve_flow_m3h, pump.curve_head_m, strict=True)
                ],
                "speed_ratio": pump.speed_ratio,
            },
        },
        "nodes": [{"id": n.id, "elevation_m": n.elevation_m} for n in net.nodes],
        "pipes": [
            _drop_none(
                {
                    "id": p.id,
                    "side": p.side.value,
                    "from": p.from_node,
                    "to": p.to_node,
                    "s_m_per_m3h2": p.s_m_per_m3h2,
                    "length_m": p.length_m,
                    "diameter_mm": p.diameter_mm,
                    "roughness_mm": p.roughness_mm,
                }
            )
            for p in net.pipes
        ],
        "entrances": [
            _drop_none(
                {
                    "id": e.id,
                    "building": e.building,
                    "supply_node": e.supply_node,
                    "return_node": e.return_node,
                    "valve": _valve(e.valve),
                    "internal_s_m_per_m3h2": e.internal_s_m_per_m3h2,
                    "design_flow_m3h": e.design_flow_m3h,
                    "floors": e.floors,
                }
            )
            for e in net.entrances
        ],
        "households": [
            _drop_none(
                {
                    "id": h.id,
                    "entrance": h.entrance,
                    "s_m_per_m3h2": h.s_m_per_m3h2,
                    "valve": _valve(h.valve) if h.valve else None,
                    "floor": h.floor,
                    "design_flow_m3h": h.design_flow_m3h,
                }
            )
            for h in net.households
        ],
        "measurements": [{"kind": m.kind.value, "at": m.at} for m in net.measurements],
        "meta": dict(net.meta),
    }


def save_network(net: Network, path: str | Path) -> None:
    """Write ``net`` to ``path`` as indented JSON."""
    Path(path).write_text(json.dumps(network_to_dict(net), indent=1) + "\n", encoding="utf-8")
