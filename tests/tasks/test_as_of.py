"""--as-of YEAR: every input is cut at that year, WPP's projections excepted."""

import polars as pl

from talentflow.core.settings import get_settings
from talentflow.tasks.as_of import as_of_inputs, truncated_at


def synthetic_ncses_like() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "year": [2010, 2015, 2016, None, None, None],
            "period": [None, None, None, "2017-23", "2010-12", None],
            "value": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    ).with_columns(pl.col("year").cast(pl.Int32))


def test_rows_after_the_as_of_year_are_gone_and_undated_pooled_rows_stay_whole():
    # NCSES's pooled cohorts (a period, no year) are read as one block by the features.
    kept = truncated_at(synthetic_ncses_like(), 2015)
    assert kept["value"].to_list() == [1.0, 2.0, 4.0, 5.0, 6.0]


def test_other_year_columns_are_cut_too_and_undated_tables_are_kept():
    editions = pl.DataFrame({"edition_year": [2019, 2023], "share": [0.1, 0.2]})
    assert truncated_at(editions, 2020)["edition_year"].to_list() == [2019]
    countries = pl.DataFrame({"iso3": ["CHN", "USA"]})
    assert truncated_at(countries, 2000).equals(countries)


def test_inputs_are_written_cut_except_wpp_whose_projections_are_the_exception(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
    frame = pl.DataFrame({"year": [2000, 2010, 2030], "v": [1, 2, 3]}).with_columns(
        pl.col("year").cast(pl.Int32)
    )
    for name in ("wdi_sp_pop_totl", "wpp2024_population_by_age5"):
        frame.write_parquet(tmp_path / f"{name}.parquet")
    paths = {
        name: str(tmp_path / f"{name}.parquet")
        for name in ("wdi_sp_pop_totl", "wpp2024_population_by_age5")
    }
    cut = as_of_inputs(paths, 2010)
    assert pl.read_parquet(cut["wdi_sp_pop_totl"])["year"].max() == 2010
    assert cut["wdi_sp_pop_totl"].startswith(str(get_settings().data_dir))
    assert pl.read_parquet(cut["wpp2024_population_by_age5"])["year"].max() == 2030
    # The accepted tidy table itself is untouched.
    assert pl.read_parquet(paths["wdi_sp_pop_totl"])["year"].max() == 2030
