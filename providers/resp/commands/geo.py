"""Geo commands (Redis 7.0) on sorted sets: GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH,
GEOSEARCHSTORE, GEORADIUS and GEORADIUSBYMEMBER (and their _RO forms).

A position is a member whose score is Redis's 52-bit geohash (26 bits of
longitude and of latitude, interleaved, latitude in the even bits), so the
scores are redis-server's. Searches test every member against the shape
with Redis's distance formulas on the decoded cell centre; Redis looks only
in the nine geohash cells around the centre, which cover the same shape.
"""

from __future__ import annotations

import math
from fractions import Fraction

from ...datatypes.zset import ZSet
from ..numbers import format_long_double
from ..replies import EMPTY_ARRAY, ZERO, bulk, error, integer
from ._base import NOT_FLOAT, SYNTAX_ERROR, Client, Command, bounded_int
from .zsets import parse_score, zadd

__all__ = ["COMMANDS", "decode", "distance", "encode"]

LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
LONG_MIN, LONG_MAX = -180.0, 180.0
STEP = 26
EARTH_RADIUS = 6372797.560856
_D_R = math.pi / 180.0
_UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}
_ALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"
UNIT_ERROR = b"-ERR unsupported unit provided. please use M, KM, FT, MI\r\n"


def _interleave(even: int, odd: int) -> int:
    bits = 0
    for i in range(32):
        bits |= ((even >> i) & 1) << (2 * i) | ((odd >> i) & 1) << (2 * i + 1)
    return bits


def _deinterleave(bits: int) -> tuple[int, int]:
    even = odd = 0
    for i in range(32):
        even |= ((bits >> (2 * i)) & 1) << i
        odd |= ((bits >> (2 * i + 1)) & 1) << i
    return even, odd


def _encode(longitude: float, latitude: float, lat_range: tuple[float, float]) -> int:
    lat_min, lat_max = lat_range
    lat_offset = (latitude - lat_min) / (lat_max - lat_min) * (1 << STEP)
    long_offset = (longitude - LONG_MIN) / (LONG_MAX - LONG_MIN) * (1 << STEP)
    return _interleave(int(lat_offset) & 0xFFFFFFFF, int(long_offset) & 0xFFFFFFFF)


def encode(longitude: float, latitude: float) -> int:
    """Redis's ``geohashEncodeWGS84`` at step 26 (the 52-bit score)."""
    return _encode(longitude, latitude, (LAT_MIN, LAT_MAX))


def decode(score: float) -> tuple[float, float]:
    """Redis's ``decodeGeohash``: the (longitude, latitude) at the centre of the score's cell."""
    lat_bits, long_bits = _deinterleave(int(score))
    lat_scale = LAT_MAX - LAT_MIN
    long_scale = LONG_MAX - LONG_MIN
    lat_low = LAT_MIN + (lat_bits * 1.0 / (1 << STEP)) * lat_scale
    lat_high = LAT_MIN + ((lat_bits + 1) * 1.0 / (1 << STEP)) * lat_scale
    long_low = LONG_MIN + (long_bits * 1.0 / (1 << STEP)) * long_scale
    long_high = LONG_MIN + ((long_bits + 1) * 1.0 / (1 << STEP)) * long_scale
    longitude = min(max((long_low + long_high) / 2, LONG_MIN), LONG_MAX)
    latitude = min(max((lat_low + lat_high) / 2, LAT_MIN), LAT_MAX)
    return longitude, latitude


def _lat_distance(lat1: float, lat2: float) -> float:
    return EARTH_RADIUS * abs(lat2 * _D_R - lat1 * _D_R)


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Redis's ``geohashGetDistance`` (haversine on Redis's earth radius), in meters."""
    v = math.sin((lon2 * _D_R - lon1 * _D_R) / 2)
    if v == 0.0:
        return _lat_distance(lat1, lat2)
    lat1r, lat2r = lat1 * _D_R, lat2 * _D_R
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    return 2.0 * EARTH_RADIUS * math.asin(math.sqrt(a))


def _human(value: float, resp3: bool) -> bytes:
    text = format_long_double(Fraction(value))
    return b",%s\r\n" % text if resp3 else bulk(text)


def _distance_reply(value: float) -> bytes:
    return bulk(b"%.4f" % value)


def _lon_lat(first: bytes, second: bytes) -> tuple[float, float] | bytes:
    longitude, latitude = parse_score(first), parse_score(second)
    if longitude is None or latitude is None:
        return NOT_FLOAT
    if not (LONG_MIN <= longitude <= LONG_MAX and LAT_MIN <= latitude <= LAT_MAX):
        return error(b"ERR invalid longitude,latitude pair %f,%f" % (longitude, latitude))
    return longitude, latitude


def geoadd(s: Client, argv: list[bytes]) -> bytes:
    """GEOADD key [NX|XX] [CH] longitude latitude member [...] (a ZADD of geohash scores)."""
    at = 2
    flags = set()
    while at < len(argv) and argv[at].lower() in (b"nx", b"xx", b"ch"):
        flags.add(argv[at].lower())
        at += 1
    if (len(argv) - at) % 3 or {b"nx", b"xx"} <= flags:
        return SYNTAX_ERROR
    rewritten = argv[:at]
    for j in range(at, len(argv), 3):
        position = _lon_lat(argv[j], argv[j + 1])
        if isinstance(position, bytes):
            return position
        rewritten += [b"%d" % encode(*position), argv[j + 2]]
    return zadd(s, rewritten)


def _zset(s: Client, key: bytes) -> ZSet | None:
    return s.store.read_container(key, ZSet)


def geopos(s: Client, argv: list[bytes]) -> bytes:
    """GEOPOS key member [member ...]."""
    zset = _zset(s, argv[1])
    parts = [b"*%d\r\n" % (len(argv) - 2)]
    for member in argv[2:]:
        score = zset.score(member) if zset is not None else None
        if score is None:
            parts.append(s.null_array)
            continue
        longitude, latitude = decode(score)
        parts.append(b"*2\r\n" + _human(longitude, s.resp3) + _human(latitude, s.resp3))
    return b"".join(parts)


def geodist(s: Client, argv: list[bytes]) -> bytes:
    """GEODIST key member1 member2 [M|KM|FT|MI]."""
    to_meters = 1.0
    if len(argv) == 5:
        unit = _UNITS.get(argv[4].lower())
        if unit is None:
            return UNIT_ERROR
        to_meters = unit
    elif len(argv) > 5:
        return SYNTAX_ERROR
    zset = _zset(s, argv[1])
    if zset is None:
        return s.null
    first, second = zset.score(argv[2]), zset.score(argv[3])
    if first is None or second is None:
        return s.null
    return _distance_reply(distance(*decode(first), *decode(second)) / to_meters)


def geohash(s: Client, argv: list[bytes]) -> bytes:
    """GEOHASH key member [member ...]: the standard 11-character geohash strings."""
    zset = _zset(s, argv[1])
    parts = [b"*%d\r\n" % (len(argv) - 2)]
    for member in argv[2:]:
        score = zset.score(member) if zset is not None else None
        if score is None:
            parts.append(s.null)
            continue
        bits = _encode(*decode(score), (-90.0, 90.0))
        chars = bytes(
            _ALPHABET[0 if i == 10 else (bits >> (52 - (i + 1) * 5)) & 0x1F] for i in range(11)
        )
        parts.append(bulk(chars))
    return b"".join(parts)


# -- searches ---------------------------------------------------------------------------

_RADIUS_COORDS, _RADIUS_MEMBER, _SEARCH, _SEARCH_STORE, _NO_STORE = (1 << i for i in range(5))


class _Search:
    """GEOSEARCH's and GEORADIUS's options, as ``georadiusGeneric`` parses them."""

    def __init__(self) -> None:
        self.center: tuple[float, float] | None = None
        self.radius: float | None = None
        self.box: tuple[float, float] | None = None
        self.to_meters = 1.0
        self.withdist = self.withhash = self.withcoord = self.any = False
        self.sort = 0  # 1 ascending, -1 descending
        self.count = 0
        self.store: bytes | None = None
        self.storedist = False
        self.from_member = self.from_lonlat = False


def _distance_arguments(search: _Search, value: bytes, unit: bytes) -> bytes | None:
    radius = parse_score(value)
    if radius is None:
        return b"-ERR need numeric radius\r\n"
    if radius < 0:
        return b"-ERR radius cannot be negative\r\n"
    to_meters = _UNITS.get(unit.lower())
    if to_meters is None:
        return UNIT_ERROR
    search.radius, search.to_meters = radius, to_meters
    return None


def _box_arguments(search: _Search, width: bytes, height: bytes, unit: bytes) -> bytes | None:
    w = parse_score(width)
    if w is None:
        return b"-ERR need numeric width\r\n"
    h = parse_score(height)
    if h is None:
        return b"-ERR need numeric height\r\n"
    if h < 0 or w < 0:
        return b"-ERR height or width cannot be negative\r\n"
    to_meters = _UNITS.get(unit.lower())
    if to_meters is None:
        return UNIT_ERROR
    search.box, search.to_meters = (w, h), to_meters
    return None


def _options(
    argv: list[bytes], at: int, flags: int, zset: ZSet | None, search: _Search
) -> bytes | None:
    j = at
    while j < len(argv):
        option = argv[j].lower()
        left = len(argv) - j - 1
        if option in (b"withdist", b"withhash", b"withcoord", b"any"):
            setattr(search, option.decode(), True)
        elif option == b"asc":
            search.sort = 1
        elif option == b"desc":
            search.sort = -1
        elif option == b"count" and left >= 1:
            count = bounded_int(argv[j + 1])
            if count is None:
                return b"-ERR value is not an integer or out of range\r\n"
            if count <= 0:
                return b"-ERR COUNT must be > 0\r\n"
            search.count = count
            j += 1
        elif option in (b"store", b"storedist") and left >= 1 and not flags & (_NO_STORE | _SEARCH):
            search.store, search.storedist = argv[j + 1], option == b"storedist"
            j += 1
        elif option == b"storedist" and flags & _SEARCH_STORE:
            search.storedist = True
        elif option == b"frommember" and left >= 1 and flags & _SEARCH and not search.from_lonlat:
            search.from_member = True
            if zset is not None:
                score = zset.score(argv[j + 1])
                if score is None:
                    return b"-ERR could not decode requested zset member\r\n"
                search.center = decode(score)
            j += 1
        elif option == b"fromlonlat" and left >= 2 and flags & _SEARCH and not search.from_member:
            position = _lon_lat(argv[j + 1], argv[j + 2])
            if isinstance(position, bytes):
                return position
            search.center, search.from_lonlat = position, True
            j += 2
        elif option == b"byradius" and left >= 2 and flags & _SEARCH and search.box is None:
            failed = _distance_arguments(search, argv[j + 1], argv[j + 2])
            if failed is not None:
                return failed
            j += 2
        elif option == b"bybox" and left >= 3 and flags & _SEARCH and search.radius is None:
            failed = _box_arguments(search, argv[j + 1], argv[j + 2], argv[j + 3])
            if failed is not None:
                return failed
            j += 3
        else:
            return SYNTAX_ERROR
        j += 1
    return None


def _search(s: Client, argv: list[bytes], at: int, flags: int) -> bytes:
    """Redis's ``georadiusGeneric``; ``argv[at]`` is the source key."""
    zset = _zset(s, argv[at])
    search = _Search()
    base = at + 1
    if flags & _RADIUS_COORDS:
        base = 6
        position = _lon_lat(argv[2], argv[3])
        if isinstance(position, bytes):
            return position
        search.center = position
        failed = _distance_arguments(search, argv[4], argv[5])
        if failed is not None:
            return failed
    elif flags & _RADIUS_MEMBER:
        base = 5
        if zset is not None:
            score = zset.score(argv[2])
            if score is None:
                return b"-ERR could not decode requested zset member\r\n"
            search.center = decode(score)
            failed = _distance_arguments(search, argv[3], argv[4])
            if failed is not None:
                return failed
    elif flags & _SEARCH_STORE:
        search.store = argv[1]
    failed = _options(argv, base, flags, zset, search)
    if failed is not None:
        return failed
    if search.store is not None and (search.withdist or search.withhash or search.withcoord):
        what = b"GEOSEARCHSTORE" if flags & _SEARCH_STORE else b"STORE option in GEORADIUS"
        return error(
            b"ERR %s is not compatible with WITHDIST, WITHHASH and WITHCOORD options" % what
        )
    name = argv[0]
    if flags & _SEARCH and not (search.from_member or search.from_lonlat):
        return error(b"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for %s" % name)
    if flags & _SEARCH and search.radius is None and search.box is None:
        return error(b"ERR exactly one of BYRADIUS and BYBOX can be specified for %s" % name)
    if search.any and not search.count:
        return b"-ERR the ANY argument requires COUNT argument\r\n"
    if zset is None:
        if search.store is not None:
            s.store.delete(search.store)
            return ZERO
        return EMPTY_ARRAY
    if search.count and not search.sort and not search.any:
        search.sort = 1
    found = _members_in_shape(zset, search)
    if not found and search.store is None:
        return EMPTY_ARRAY
    if search.sort:
        found.sort(key=lambda item: item[1], reverse=search.sort < 0)
    if search.count:
        found = found[: search.count]
    if search.store is not None:
        result = ZSet()
        for member, meters, score, _ in found:
            result.add(member, meters / search.to_meters if search.storedist else score)
        if len(result):
            s.store.set_value(search.store, result)
            s.store.notify(
                b"georadiusstore" if not flags & _SEARCH else b"geosearchstore", search.store
            )
        else:
            s.store.delete(search.store)
        return integer(len(result))
    return _search_reply(found, search, s.resp3)


Found = list[tuple[bytes, float, float, tuple[float, float]]]
"""(member, distance in meters, score, position) of each member found."""


def _members_in_shape(zset: ZSet, search: _Search) -> Found:
    """(member, distance in meters, score, position) of the members inside the shape."""
    assert search.center is not None
    x1, y1 = search.center
    found = []
    limit = search.count if search.any else 0
    for member, score in zset:
        x2, y2 = decode(score)
        if search.radius is not None:
            meters = distance(x1, y1, x2, y2)
            if meters > search.radius * search.to_meters:
                continue
        else:
            assert search.box is not None
            width, height = search.box[0] * search.to_meters, search.box[1] * search.to_meters
            if _lat_distance(y2, y1) > height / 2 or distance(x2, y2, x1, y2) > width / 2:
                continue
            meters = distance(x1, y1, x2, y2)
        found.append((member, meters, score, (x2, y2)))
        if limit and len(found) >= limit:
            break
    return found


def _search_reply(found: Found, search: _Search, resp3: bool) -> bytes:
    extra = search.withdist + search.withhash + search.withcoord
    parts = [b"*%d\r\n" % len(found)]
    for member, meters, score, (longitude, latitude) in found:
        if extra:
            parts.append(b"*%d\r\n" % (extra + 1))
        parts.append(bulk(member))
        if search.withdist:
            parts.append(_distance_reply(meters / search.to_meters))
        if search.withhash:
            parts.append(integer(int(score)))
        if search.withcoord:
            parts.append(b"*2\r\n" + _human(longitude, resp3) + _human(latitude, resp3))
    return b"".join(parts)


def georadius(s: Client, argv: list[bytes]) -> bytes:
    """GEORADIUS key longitude latitude radius unit [options]."""
    return _search(s, argv, 1, _RADIUS_COORDS)


def georadius_ro(s: Client, argv: list[bytes]) -> bytes:
    """GEORADIUS_RO."""
    return _search(s, argv, 1, _RADIUS_COORDS | _NO_STORE)


def georadiusbymember(s: Client, argv: list[bytes]) -> bytes:
    """GEORADIUSBYMEMBER key member radius unit [options]."""
    return _search(s, argv, 1, _RADIUS_MEMBER)


def georadiusbymember_ro(s: Client, argv: list[bytes]) -> bytes:
    """GEORADIUSBYMEMBER_RO."""
    return _search(s, argv, 1, _RADIUS_MEMBER | _NO_STORE)


def geosearch(s: Client, argv: list[bytes]) -> bytes:
    """GEOSEARCH key FROMMEMBER m|FROMLONLAT lon lat BYRADIUS r unit|BYBOX w h unit [...]."""
    return _search(s, argv, 1, _SEARCH)


def geosearchstore(s: Client, argv: list[bytes]) -> bytes:
    """GEOSEARCHSTORE destination source ... [STOREDIST]."""
    return _search(s, argv, 2, _SEARCH | _SEARCH_STORE)


COMMANDS: list[Command] = [
    Command("geoadd", -5, geoadd, ("write", "denyoom"), (1, 1, 1)),
    Command("geopos", -2, geopos, ("readonly",), (1, 1, 1)),
    Command("geodist", -4, geodist, ("readonly",), (1, 1, 1)),
    Command("geohash", -2, geohash, ("readonly",), (1, 1, 1)),
    Command("geosearch", -7, geosearch, ("readonly",), (1, 1, 1)),
    Command("geosearchstore", -8, geosearchstore, ("write", "denyoom"), (1, 2, 1)),
    Command("georadius", -6, georadius, ("write", "denyoom"), (1, 1, 1)),
    Command("georadius_ro", -6, georadius_ro, ("readonly",), (1, 1, 1)),
    Command("georadiusbymember", -5, georadiusbymember, ("write", "denyoom"), (1, 1, 1)),
    Command("georadiusbymember_ro", -5, georadiusbymember_ro, ("readonly",), (1, 1, 1)),
]
