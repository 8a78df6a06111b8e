"""The catalog is complete and every entry can be served."""

from pathlib import Path

from talentflow.expectations import suite_definition
from talentflow.tasks.sources.catalog import CATALOG
from talentflow.tasks.sources.formats import resolve_format


def test_every_mirror_file_has_exactly_one_catalog_entry(mirror: Path):
    files = {
        p.relative_to(mirror) for p in mirror.rglob("*") if p.is_file() and p.name != "MANIFEST.md"
    }
    matched = []
    for source in CATALOG.values():
        found = list(mirror.glob(source.mirror_glob))
        assert len(found) == 1, (source.id, found)
        matched.append(found[0].relative_to(mirror))
    assert sorted(matched) == sorted(files)


def test_every_entry_names_a_reader_a_suite_and_its_provenance():
    for source in CATALOG.values():
        assert resolve_format(source.reader).name == source.reader
        assert suite_definition(source.suite)["expectations"], source.suite
        assert source.publisher and source.licence and source.title
        assert source.url is None or source.url.startswith("https://")


def test_the_readme_lists_the_catalog_verbatim():
    from talentflow.tasks.sources.catalog import sources_markdown

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- sources:start -->\n")[1].split("<!-- sources:end -->")[0]
    assert block == sources_markdown(), "run `talentflow sources --markdown` into the README"


def test_expected_columns_come_from_the_suite_and_match_the_parsed_mirror(mirror: Path):
    checked = 0
    for source in CATALOG.values():
        columns = source.expected_columns
        if columns is None:
            continue
        [path] = mirror.glob(source.mirror_glob)
        assert resolve_format(source.reader).parse(path).columns == columns, source.id
        checked += 1
    assert checked >= 20
