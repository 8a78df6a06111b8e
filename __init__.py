"""talentflow: how large each country's STEM talent pool is and will be, and how much
foreign talent China attracts.

The repository's top-level folders install as this one package (``pyproject.toml``'s
``package-dir`` mapping): ``talentflow.core``, ``talentflow.models``,
``talentflow.expectations``, ``talentflow.tasks`` and ``talentflow.flows``, floors from
the ground up (docs/architecture.md; the import contracts in ``pyproject.toml`` check
them). Importing this package imports nothing else.
"""

__version__ = "0.1.0"
