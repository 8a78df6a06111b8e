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
    url: the live download address; None for figures typed by hand from web pages (only
        a mirror or an operator's file serves them).
    mirror_glob: path pattern under the source mirror (``TALENTFLOW_MIRROR``), relative
        to it; exactly one file must match.
    reader: ``<module>.<format>``, a :class:`tasks.sources.formats.Format` in ``tasks.sources``.
    suite: name of the Great Expectations suite in ``expectations/`` that guards it.
    cadence: cron expression for scheduled pulls (the publisher's own rhythm); None for
        frozen releases and hand-typed figures, refreshed by an operator.
    archive_member: for zipped downloads, a glob naming the data file inside the zip.
    """

    id: str
    publisher: str
    title: str
    licence: str
    url: str | None
    mirror_glob: str
    reader: str
    suite: str
    cadence: str | None
    archive_member: str | None = None

    @property
    def expected_columns(self) -> list[str] | None:
        """The publisher's columns, exactly, as the dataset's suite requires them (the suite
        is the one place they are written down); None where the layout varies by file."""
        from talentflow.expectations import suite_definition

        for expectation in suite_definition(self.suite)["expectations"]:
            if expectation["type"] == "expect_table_columns_to_match_ordered_list":
                return list(expectation["kwargs"]["column_list"])
        return None


@dataclass(frozen=True)
class RateLimit:
    """How fast talentflow may call one host: a Prefect global concurrency limit of
    ``burst`` slots that decay at ``per_second`` (Prefect's rate-limit mode)."""

    name: str
    per_second: float
    burst: int


#: The ORCID public data file: one figshare article per yearly release (the id ends the
#: article's address, orcid.figshare.com/articles/dataset/ORCID_Public_Data_File_<year>/<id>);
#: add each new October release here. Its summaries tarball is the file talentflow reads
#: (``talentflow orcid-census``); figshare's API lists its size and MD5.
ORCID_PUBLIC_DATA_FILES: dict[int, int] = {
    2019: 9988322,
    2020: 13066970,
    2021: 16750535,
    2022: 21220892,
}
ORCID_SUMMARIES_FILE = r"ORCID_\d{4}_10_summaries\.tar\.gz"

#: Per-host request rates. ORCID's public API documents 12 requests/s with bursts of 40
#: (then HTTP 503); the others publish no limit, so we stay well below anything abusive.
RATE_LIMITS: dict[str, RateLimit] = {
    "pub.orcid.org": RateLimit("source-pub-orcid-org", per_second=12, burst=40),
    "api.worldbank.org": RateLimit("source-api-worldbank-org", per_second=2, burst=5),
    "api.uis.unesco.org": RateLimit("source-api-uis-unesco-org", per_second=2, burst=5),
}


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
        cadence=MONTHLY,  # WDI updates several times a year; monthly catches each
        archive_member=f"API_{code}_DS2_*.csv",
    )


MONTHLY = "0 6 15 * *"
YEARLY_JULY = "0 6 1 7 *"
YEARLY_OCTOBER = "0 6 1 10 *"
#: Sources typed by hand from web pages, or frozen research releases: no schedule; an
#: operator refreshes them (see the reader module's docstring).
BY_HAND = None

OWID = "Our World in Data (from {upstream})"
UIS_API = "https://api.uis.unesco.org/api/public/data/indicators?indicator={codes}&geoUnitType=NATIONAL&format=csv"
WPP_CSV = (
    "https://population.un.org/wpp/assets/Excel%20Files/1_Indicator%20(Standard)/CSV_FILES/{name}"
)
MPIDR = "https://zenodo.org/records/11145735/files/{name}?download=1"
NCSES_REPO = (
    "https://raw.githubusercontent.com/bq-org/ncses_stats_explorer_placeholder/"
    "1f879ab65ed260668840db406611ddc10e8455bc/output/tables/{table}/data.csv"
)
ORCID_MODEL = (
    "https://raw.githubusercontent.com/ORCID/orcid-model/"
    "0f61fa681c8e2287f390631644906c8631b5fa6c/src/main/resources/{path}"
)
GLOBAL_EDUCATION_REPO = (
    "https://raw.githubusercontent.com/360-info/report-global-education/"
    "b09bb22ac7ef73d980891d8990cf4d0c4b5f3b94/data/{name}"
)
SCI_MIGRATION_REPO = (
    "https://raw.githubusercontent.com/vfonov/sci_migration/"
    "e138758a7b6913a2b8ed63cecb5897c945087115/{name}"
)
INFOSCI_REPO = (
    "https://raw.githubusercontent.com/nemuulen/INFOSCI301_Final_Project/"
    "e163144625cdd2ac870a4d407377232c132ebd49/data/{name}"
)

NCSES_TABLES = {
    "1571": "S2-15: S&E first university degrees by country and field, 2000-16",
    "1572": "S2-16: S&E doctoral degrees by country and field, 2000-16",
    "5785": "SHED-11: S&E first university degrees by country and field, 2010-18",
    "5786": "SHED-12: S&E doctoral degrees by country and field, 2010-18",
    "11695": "SED 7-7: top 10 origins of temporary-visa US research doctorates, 2013-23",
    "11696": "SED 7-8: top 40 origins of temporary-visa US research doctorates, 2023",
    "11762": "SED 2-8: intention to stay in the US after the doctorate, 2017-23",
    "10996": "LBR-4: 5- and 10-year stay rates of foreign S&E doctorate recipients",
}
ORCID_SAMPLES = {
    "record-3.0.xml": "record_3.0/samples/read_samples/record-3.0.xml",
    "record-full-3.0.json": "record_3.0/samples/read_samples/record-full-3.0.json",
    "activities-3.0.xml": "record_3.0/samples/read_samples/activities-3.0.xml",
    "employments-3.0.xml": "record_3.0/samples/read_samples/employments-3.0.xml",
    "employment-full-3.0.xml": "record_3.0/samples/read_samples/employment-full-3.0.xml",
    "educations-3.0.xml": "record_3.0/samples/read_samples/educations-3.0.xml",
    "education-full-3.0.xml": "record_3.0/samples/read_samples/education-full-3.0.xml",
    "person-3.0.xml": "record_3.0/samples/read_samples/person-3.0.xml",
    "summary-3.0.xml": "summary_3.0/samples/summary-3.0.xml",
}


def _datasets() -> list[Dataset]:
    wpp = dict(
        publisher="United Nations, DESA, Population Division",
        licence="CC BY 3.0 IGO",
        cadence=YEARLY_JULY,
    )
    uis = dict(
        publisher="UNESCO Institute for Statistics", licence="CC BY-SA 3.0 IGO", cadence=MONTHLY
    )
    owid = dict(licence="CC BY 4.0", reader="owid.grapher", suite="owid_grapher", cadence=MONTHLY)
    mpidr = dict(
        publisher="Max Planck Institute for Demographic Research, Scholarly Migration Database",
        licence="CC BY 4.0",
        cadence=BY_HAND,
    )
    oecd = dict(
        publisher="OECD, Education at a Glance (via nemuulen/INFOSCI301_Final_Project)",
        licence="OECD terms (CC BY 4.0 from 2024)",
        cadence=BY_HAND,
    )
    return [
        _world_bank_indicator("SP.POP.SCIE.RD.P6", "Researchers in R&D (per million people)"),
        _world_bank_indicator("SP.POP.TOTL", "Population, total"),
        _world_bank_indicator(
            "GB.XPD.RSDV.GD.ZS", "Research and development expenditure (% of GDP)"
        ),
        Dataset(
            id="wdi_countries",
            publisher="World Bank",
            title="World Bank API country list (economies, regions, income groups)",
            licence="CC BY 4.0",
            url="https://api.worldbank.org/v2/country?format=json&per_page=400",
            mirror_glob="wdi/wb_api_countries.csv",
            reader="world_bank.country_list",
            suite="world_bank_country_list",
            cadence=MONTHLY,
        ),
        Dataset(
            id="owid_gdp_per_capita_ppp",
            publisher=OWID.format(upstream="World Bank WDI"),
            title="GDP per capita, PPP (constant 2021 international $), NY.GDP.PCAP.PP.KD",
            url="https://ourworldindata.org/grapher/gdp-per-capita-worldbank.csv",
            mirror_glob="wdi/owid_NY.GDP.PCAP.PP.KD_gdp_per_capita_ppp.csv",
            **owid,
        ),
        Dataset(
            id="wpp2024_population_by_age5",
            title="World Population Prospects 2024: population by 5-year age group and sex",
            url=WPP_CSV.format(name="WPP2024_PopulationByAge5GroupSex_Medium.csv.gz"),
            mirror_glob="wpp2024/WPP2024_PopulationByAge5GroupSex_5yr.csv",
            reader="wpp.population_by_age",
            suite="wpp_population_by_age",
            **wpp,
        ),
        Dataset(
            id="wpp2024_population_annual",
            title="World Population Prospects 2024: total population on 1 January, by variant",
            url=WPP_CSV.format(name="WPP2024_Population1JanuaryBySex_Medium.csv.gz"),
            mirror_glob="wpp2024/WPP2024_Population1JanuaryBySex_annual.csv",
            reader="wpp.population_annual",
            suite="wpp_population_annual",
            **wpp,
        ),
        Dataset(
            id="wpp2024_locations",
            title="WPP 2024 locations: M49 codes, regions, groupings",
            url="https://raw.githubusercontent.com/PPgp/wpp2024/main/data/UNlocations.txt",
            mirror_glob="wpp2024/wpp2024_UNlocations.csv",
            reader="wpp.locations",
            suite="wpp_locations",
            **wpp,
        ),
        Dataset(
            id="uis_tertiary_enrolment_attainment",
            title="UIS SDG 4: tertiary gross enrolment ratio and educational attainment",
            url=UIS_API.format(
                codes="GER.5T8,GER.5T8.F,GER.5T8.M,EA.5T8.AG25T99,EA.6T8.AG25T99,EA.7T8.AG25T99"
            ),
            mirror_glob="uis/uis_api_sdg_tertiary_enrolment_attainment.csv",
            reader="uis.api_records",
            suite="uis_api_records",
            **uis,
        ),
        Dataset(
            id="uis_inbound_and_net_flow",
            title="UIS: inbound internationally mobile tertiary students (26637) and net flow "
            "(MENF.5T8)",
            url=UIS_API.format(codes="26637,MENF.5T8"),
            mirror_glob="uis/uis_api_inbound_26637_and_netflow_MENF5T8.csv",
            reader="uis.api_records",
            suite="uis_api_records",
            **uis,
        ),
        Dataset(
            id="uis_top_destinations_by_origin",
            publisher="UNESCO Institute for Statistics, via 360info (report-global-education)",
            title="Global flow of tertiary-level students: top 10 destinations by origin",
            licence="CC BY 4.0",
            url=GLOBAL_EDUCATION_REPO.format(name="popular-destinations-by-origin.csv"),
            mirror_glob="uis/uis_opri_bilateral_top10_popular_destinations_by_origin.csv",
            reader="uis.top_destinations_by_origin",
            suite="uis_top_partners",
            cadence=BY_HAND,
        ),
        Dataset(
            id="uis_top_origins_by_destination",
            publisher="UNESCO Institute for Statistics, via 360info (report-global-education)",
            title="Global flow of tertiary-level students: top 10 origins by destination",
            licence="CC BY 4.0",
            url=GLOBAL_EDUCATION_REPO.format(name="popular-origins-by-destination.csv"),
            mirror_glob="uis/uis_opri_bilateral_top10_popular_origins_by_destination.csv",
            reader="uis.top_origins_by_destination",
            suite="uis_top_partners",
            cadence=BY_HAND,
        ),
        Dataset(
            id="owid_inbound_mobility_rate",
            publisher=OWID.format(upstream="UNESCO UIS"),
            title="Inbound mobility rate: international students as % of tertiary enrolment",
            url="https://ourworldindata.org/grapher/share-of-students-from-abroad.csv",
            mirror_glob="uis/owid_uis_inbound_mobility_rate.csv",
            **owid,
        ),
        Dataset(
            id="owid_outbound_mobility_ratio",
            publisher=OWID.format(upstream="UNESCO UIS"),
            title="Outbound mobility ratio: students abroad as % of tertiary enrolment",
            url="https://ourworldindata.org/grapher/share-of-students-studying-abroad.csv",
            mirror_glob="uis/owid_uis_outbound_mobility_ratio.csv",
            **owid,
        ),
        Dataset(
            id="oecd_eag_share_by_origin",
            title="Education at a Glance 2022: share of international students by origin",
            url=INFOSCI_REPO.format(name="Share_students_origin_to_destination.csv"),
            mirror_glob="uis/oecd_eag_2022_share_intl_students_by_origin.csv",
            reader="oecd.eag_share_by_origin",
            suite="oecd_eag_share_by_origin",
            **oecd,
        ),
        Dataset(
            id="oecd_eag_outbound_total",
            title="Education at a Glance 2022: nationals enrolled abroad",
            url=INFOSCI_REPO.format(name="Total_num_students_going_abroad.csv"),
            mirror_glob="uis/oecd_eag_2022_outbound_students_total.csv",
            reader="oecd.eag_outbound_total",
            suite="oecd_eag_outbound_total",
            **oecd,
        ),
        *(
            Dataset(
                id=f"mpidr_{database}_{kind}",
                title=f"Scholarly migration ({database.title()}): "
                + (
                    "country-year totals and rates"
                    if kind == "country"
                    else "bilateral flows by year"
                ),
                url=MPIDR.format(name=f"{release}_scholarlymigration_{file_kind}.csv"),
                mirror_glob=f"scholarly_migration/{release}_scholarlymigration_{file_kind}.csv",
                reader=f"mpidr.{kind}",
                suite=f"mpidr_{kind}",
                **mpidr,
            )
            for database, release in (
                ("scopus", "scopus_2024_V1"),
                ("openalex", "openalex_2023_V1"),
            )
            for kind, file_kind in (("country", "country"), ("flows", "countryflows"))
        ),
        *(
            Dataset(
                id=f"ncses_table_{table}",
                publisher="US National Center for Science and Engineering Statistics (NCSES), "
                "Science & Engineering Indicators",
                title=title,
                licence="US government work (public domain)",
                url=NCSES_REPO.format(table=table),
                mirror_glob=f"ncses_sei/ncses_table_{table}.csv",
                reader="ncses.table",
                suite="ncses_table",
                cadence=BY_HAND,
            )
            for table, title in NCSES_TABLES.items()
        ),
        Dataset(
            id="macropolo_ai_talent_tracker",
            publisher="Paulson Institute / MacroPolo, Global AI Talent Tracker (figures typed "
            "from public pages)",
            title="Global AI Talent Tracker 1.0 and 2.0: shares of top-tier AI researchers",
            licence="figures quoted from public pages",
            url=None,
            mirror_glob="macropolo/macropolo_global_ai_talent_tracker_figures.csv",
            reader="macropolo.figures",
            suite="macropolo_figures",
            cadence=BY_HAND,
        ),
        Dataset(
            id="china_moe_international_students",
            publisher="Ministry of Education of the PRC (figures typed from reprints)",
            title="International students in China: totals, origins, levels, funding, 2010-2018",
            licence="figures quoted from public releases",
            url=None,
            mirror_glob="china_moe/china_international_students_moe.csv",
            reader="china_moe.international_students",
            suite="china_moe_international_students",
            cadence=BY_HAND,
        ),
        Dataset(
            id="china_moe_postgraduate",
            publisher="Ministry of Education / National Bureau of Statistics of the PRC "
            "(figures typed from reprints)",
            title="Postgraduate admissions, enrolment and graduates (all fields)",
            licence="figures quoted from public releases",
            url=None,
            mirror_glob="china_moe/china_postgraduate_education_moe_nbs.csv",
            reader="china_moe.postgraduate",
            suite="china_moe_postgraduate",
            cadence=BY_HAND,
        ),
        *(
            Dataset(
                id="orcid_sample_" + name.rsplit(".", 1)[0].replace("-", "_").replace(".", "_"),
                publisher="ORCID (orcid-model schema samples; placeholder people)",
                title=f"ORCID API v3.0 sample message {name}",
                licence="ORCID MIT-style",
                url=ORCID_MODEL.format(path=path),
                mirror_glob=f"orcid/samples/{name}",
                reader="orcid.records",
                suite="orcid_affiliations",
                cadence=BY_HAND,
            )
            for name, path in ORCID_SAMPLES.items()
        ),
        *(
            Dataset(
                id=f"orcid_2016_alumni_{suffix}",
                publisher="vfonov/sci_migration, from Bohannon & Doran (2017) ORCID data",
                title="Alumni of four universities and their 2016 ORCID country"
                + (" with graduation year" if grad else ""),
                licence="none stated",
                url=SCI_MIGRATION_REPO.format(name=remote),
                mirror_glob=f"orcid/migration/{local}",
                reader="orcid.alumni_current_country",
                suite="orcid_alumni",
                cadence=BY_HAND,
            )
            for suffix, grad, remote, local in (
                (
                    "current_country",
                    False,
                    "person_education_final.csv",
                    "vfonov_orcid2016_alumni_current_country.csv",
                ),
                (
                    "current_country_grad_year",
                    True,
                    "person_education_final_grad.csv",
                    "vfonov_orcid2016_alumni_current_country_with_grad_year.csv",
                ),
            )
        ),
    ]


CATALOG: dict[str, Dataset] = {dataset.id: dataset for dataset in _datasets()}

RESEARCHERS_PER_MILLION = "wdi_sp_pop_scie_rd_p6"
POPULATION_TOTAL = "wdi_sp_pop_totl"
WPP_POPULATION_BY_AGE = "wpp2024_population_by_age5"


def dataset(dataset_id: str) -> Dataset:
    try:
        return CATALOG[dataset_id]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise KeyError(f"unknown dataset {dataset_id!r}; the catalog has: {known}") from None


def sources_markdown() -> str:
    """The catalog as a Markdown table (the README's source list is this, verbatim)."""
    lines = [
        "| dataset | publisher | licence | cadence | live source |",
        "|---|---|---|---|---|",
    ]
    for item in CATALOG.values():
        live = f"[download]({item.url})" if item.url else "none: typed from web pages"
        cadence = f"`{item.cadence}`" if item.cadence else "by hand"
        lines.append(f"| `{item.id}` | {item.publisher} | {item.licence} | {cadence} | {live} |")
    return "\n".join(lines) + "\n"
