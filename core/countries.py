"""Country codes, decided in one place.

Every source names places its own way (ISO3, ISO2, M49, names, World Bank aggregate
codes). This module says which codes are countries and which are aggregates; no reader
keeps a mapping of its own.

Rules
-----
- A *country* is an ISO 3166-1 alpha-3 code known to ``pycountry``, plus Kosovo,
  which ISO has not coded and which the World Bank and the UN write ``XKX``.
- Everything else a source uses as a code (World Bank ``WLD``, ``EAS``, ``HIC`` …, the
  Channel Islands ``CHI``) is an *aggregate or non-ISO economy*: kept in raw snapshots,
  flagged, never mixed into country rankings.
- China (``CHN``) is mainland China as each publisher defines it; Hong Kong (``HKG``),
  Macao (``MAC``) and Taiwan (``TWN``) are separate rows wherever a source reports them.
"""

from __future__ import annotations

from functools import cache

import pycountry

KOSOVO_ISO3 = "XKX"


@cache
def country_iso3_codes() -> frozenset[str]:
    """All codes that talentflow treats as countries."""
    return frozenset({country.alpha_3 for country in pycountry.countries} | {KOSOVO_ISO3})


def is_country_iso3(code: str | None) -> bool:
    return code is not None and code in country_iso3_codes()
