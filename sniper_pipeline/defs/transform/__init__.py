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
from importlib.metadata import PackageNotFoundError, version


def _import_dagster_dbt_without_dbt_core() -> None:
    if "dagster_dbt" in sys.modules or "dbt.version" in sys.modules:
        return  # already imported, or dbt-core already loaded: nothing left to save
    sys.modules["dbt.version"] = None  # type: ignore[assignment]  # None: import raises ImportError
    try:
        import dagster_dbt  # noqa: F401
    finally:
        # Only for dagster-dbt's import: dbt-core stays importable for anything else later.
        del sys.modules["dbt.version"]
    _name_the_installed_dbt()


def _name_the_installed_dbt() -> None:
    """dagster-dbt lists "dbt-fusion unknown" among the code location's library versions (the UI
    shows them) when it did not see dbt-core: name the dbt-core installed, read from its metadata."""
    from dagster_shared.libraries import DagsterLibraryRegistry
    from packaging.version import Version

    try:
        installed = version("dbt-core")
    except PackageNotFoundError:
        return  # really without dbt-core: dagster-dbt's entry stands
    DagsterLibraryRegistry._libraries.pop("dbt-fusion", None)  # no public way to take one back
    # As dagster-dbt registers dbt-core when it imports it: the base version.
    DagsterLibraryRegistry.register("dbt-core", Version(installed).base_version, is_dagster_package=False)


_import_dagster_dbt_without_dbt_core()
