"""Geography of the agreement: territory, line of contact, point queries, local frames.

Public API (others code against these names):

    t = load_territory(path)              # or default_territory_path()
    t.parties, t.polygon(party), t.warnings
    t.contact_line -> ContactLine (.parts, .length_m, .part_lengths_m, .part_sides,
                                   .locate(lon, lat), .point_at(km, part), .distance_m)
    t.party_at(lon, lat), t.distance_to_line_m(lon, lat), t.signed_distance_m(lon, lat, party)
    t.offset_from_line(km, distance_m, party, part=0)
    t.sectors(length_km), t.sector_of(lon, lat, length_km)
    LocalFrame(lon0, lat0).to_en / .from_en, geodesic_inverse, geodesic_forward

All inputs and outputs are WGS84 lon/lat degrees and metres; every function takes NumPy
arrays. Only `truceline.errors` and the geometry libraries are imported.
"""

from truceline.geo.contact import ContactLine, Sector
from truceline.geo.local import GEOD, LocalFrame, geodesic_forward, geodesic_inverse
from truceline.geo.territory import Territory, default_territory_path, geodesic_area_km2, load_territory

__all__ = [
    "GEOD",
    "ContactLine",
    "LocalFrame",
    "Sector",
    "Territory",
    "default_territory_path",
    "geodesic_area_km2",
    "geodesic_forward",
    "geodesic_inverse",
    "load_territory",
]
