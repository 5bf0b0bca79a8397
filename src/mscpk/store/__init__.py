"""The project store: every run with what produced it, in SQLite or PostgreSQL (docs/store.md).

Layer between ``analysis`` and ``interfaces``: the command line and the web app use it.
"""

from mscpk.store.info import ProjectInfo, RunInfo, StudyImport, StudyInfo, User
from mscpk.store.store import Store, open_store

__all__ = ["open_store", "Store", "RunInfo", "User", "ProjectInfo", "StudyInfo", "StudyImport"]
