"""Everything that knows a publisher: the catalog, fetching, and one reader per format."""
