"""dbt models as Dagster assets.

Importing this package imports dagster-dbt without letting it load dbt-core into the process.
dagster-dbt 0.29 imports dbt-core's contracts and adapters at import time when dbt-core is
installed: ~1.7 s of CPU in every process that loads the code location (each run worker, code
server and daemon), a third of the location's load time. It uses them for dbt's selection engine
(this project selects every node, which dagster-dbt then reads straight from the manifest) and
for an in-process adapter (`ScanDbtCliResource` skips it). dbt itself runs as a subprocess.

With `dbt.version` unimportable during the import, dagster-dbt takes the path it has for an
environment without dbt-core (dbt Fusion's). The package runs before any of its modules, so no
module here can import dagster-dbt first. `test_dbt_core_hidden.py` checks that the asset graph
is the same both ways."""

import sys


def _import_dagster_dbt_without_dbt_core() -> None:
    if "dagster_dbt" in sys.modules or "dbt.version" in sys.modules:
        return  # already imported, or dbt-core already loaded: nothing left to save
    sys.modules["dbt.version"] = None  # type: ignore[assignment]  # None: import raises ImportError
    try:
        import dagster_dbt  # noqa: F401
    finally:
        # Only for dagster-dbt's import: dbt-core stays importable for anything else later.
        del sys.modules["dbt.version"]


_import_dagster_dbt_without_dbt_core()
