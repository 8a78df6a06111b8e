"""The source catalog: what each dataset is, who publishes it, where it comes from.

This is the one declarative place for source facts (publisher, licence, live URL,
mirror path, reader, cadence). Code asks the catalog; it never spells a URL or a mirror
path itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    """One dataset as its publisher releases it.

    Attributes
    ----------
    id: stable identifier, used for snapshot folders, suites and CLI arguments.
    publisher, title, licence: provenance recorded in every snapshot's sidecar.
    url: the live download address.
    mirror_glob: path pattern under the source mirror (``TALENTFLOW_MIRROR``), relative
        to it; exactly one file must match.
    reader: ``<module>.<format>``, a :class:`tasks.sources.formats.Format` in ``tasks.sources``.
    suite: name of the Great Expectations suite in ``expectations/`` that guards it.
    cadence: cron expression for scheduled pulls (the publisher's own rhythm).
    archive_member: for zipped downloads, a glob naming the data file inside the zip.
    """

    id: str
    publisher: str
    title: str
    licence: str
    url: str
    mirror_glob: str
    reader: str
    suite: str
    cadence: str
    archive_member: str | None = None


def _world_bank_indicator(code: str, title: str) -> Dataset:
    return Dataset(
        id=f"wdi_{code.lower().replace('.', '_')}",
        publisher="World Bank, World Development Indicators",
        title=title,
        licence="CC BY 4.0",
        url=f"https://api.worldbank.org/v2/en/indicator/{code}?downloadformat=csv",
        mirror_glob=f"wdi/API_{code}_DS2_en_csv_v2*.csv",
        reader="world_bank.bulk_indicator",
        suite="world_bank_indicator",
        cadence="0 6 15 * *",  # WDI updates several times a year; monthly catches each
        archive_member=f"API_{code}_DS2_*.csv",
    )


CATALOG: dict[str, Dataset] = {
    dataset.id: dataset
    for dataset in (
        _world_bank_indicator("SP.POP.SCIE.RD.P6", "Researchers in R&D (per million people)"),
        _world_bank_indicator("SP.POP.TOTL", "Population, total"),
        Dataset(
            id="wpp2024_population_by_age5",
            publisher="United Nations, DESA, Population Division",
            title="World Population Prospects 2024: population by 5-year age group and sex",
            licence="CC BY 3.0 IGO",
            url=(
                "https://population.un.org/wpp/assets/Excel%20Files/1_Indicator%20(Standard)"
                "/CSV_FILES/WPP2024_PopulationByAge5GroupSex_Medium.csv.gz"
            ),
            mirror_glob="wpp2024/WPP2024_PopulationByAge5GroupSex_5yr.csv",
            reader="wpp.population_by_age",
            suite="wpp_population_by_age",
            cadence="0 6 1 7 *",  # WPP is biennial, released in July
        ),
    )
}

RESEARCHERS_PER_MILLION = "wdi_sp_pop_scie_rd_p6"
POPULATION_TOTAL = "wdi_sp_pop_totl"
WPP_POPULATION_BY_AGE = "wpp2024_population_by_age5"


def dataset(dataset_id: str) -> Dataset:
    try:
        return CATALOG[dataset_id]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise KeyError(f"unknown dataset {dataset_id!r}; the catalog has: {known}") from None
