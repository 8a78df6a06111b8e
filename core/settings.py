"""One settings object, read from the environment (prefix ``TALENTFLOW_``).

Only what talentflow itself decides lives here. Prefect configures itself
(``PREFECT_API_URL`` unset means Prefect's local, embedded API), so nothing of
Prefect's is repeated here.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where talentflow keeps its data and where it reads its sources from.

    Attributes
    ----------
    data_dir:
        Snapshots, validation results and published tables live below it.
        Default ``./data`` (git-ignored), resolved against the working directory.
    mirror:
        A local directory laid out like ``shared/data`` (see its MANIFEST). When set,
        every source is read from it instead of being downloaded; unset (the default)
        means live pulls from the publishers.
    """

    model_config = SettingsConfigDict(env_prefix="TALENTFLOW_", extra="ignore")

    data_dir: Path = Path("data")
    mirror: Path | None = None

    def resolved(self) -> Settings:
        """Return a copy with absolute paths, so a run is not moved by a later ``chdir``."""
        mirror = self.mirror.expanduser().resolve() if self.mirror else None
        return self.model_copy(
            update={"data_dir": self.data_dir.expanduser().resolve(), "mirror": mirror}
        )


def get_settings() -> Settings:
    """Read the settings afresh from the environment (cheap; never cached, so tests and
    long-lived workers see a changed environment)."""
    return Settings().resolved()
