"""The project's set-up stays consistent: environment.yml mirrors pyproject, notebooks carry no outputs."""

import json
import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]

CONDA_NAMES = {"torch": "pytorch", "ray": "ray-core"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~ ;\[]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {CONDA_NAMES.get(_name(r), _name(r)) for r in meta["dependencies"] + meta["optional-dependencies"]["test"]}
    listed = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("\ndependencies:") :].splitlines():
        m = re.match(r"^  - ([A-Za-z0-9_.-]+)", line)
        if m and m.group(1) not in ("python", "pip"):
            listed.add(_name(m.group(1)))
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"


def test_committed_notebooks_have_no_outputs():
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(nb_path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and cell.get("execution_count") is None, (
                    f"{nb_path.name} carries outputs: clear them (Kernel > Restart and Clear Outputs) before committing"
                )


def test_notebook_cells_have_unique_ids():
    """nbformat 4.5 cells need an id (nbformat warns now and will refuse later); ids are unique per notebook."""
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "exercises").glob("*/*.ipynb")):
        cells = json.loads(nb_path.read_text())["cells"]
        ids = [c.get("id") for c in cells]
        assert None not in ids, f"{nb_path.name}: cell {ids.index(None)} has no id (nbformat.validator.normalize)"
        assert len(set(ids)) == len(ids), f"{nb_path.name}: duplicate cell ids"


def test_ci_calls_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make report" in readme


def test_notebook_parameters_default_to_the_quick_profile():
    """Each notebook's `parameters` cell holds the quick profile's values for the Config fields it declares."""
    import papermill

    from advlab.course.profiles import config, field_names

    quick = config("quick").as_dict()
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        params = papermill.inspect_notebook(str(nb_path))
        assert {"profile", "device", "force", "overrides"} <= set(params), nb_path.name
        assert params["profile"]["default"].strip("'\"") == "quick"
        for name, p in params.items():
            if name in field_names() and name not in ("profile", "device", "force"):
                default = eval(p["default"])  # a literal written in the notebook
                assert default == quick[name], f"{nb_path.name}: {name} = {default!r}, quick has {quick[name]!r}"


def test_readme_quotes_the_committed_run_over_seeds():
    """README's table over training seeds is the one the committed record's own numbers give, quoted whole."""
    from advlab.report.seeds import headline_table

    record = json.loads((ROOT / "docs" / "results" / "quick-seeds.json").read_text())
    assert record["seeds"] == [0, 1, 2] and record["executor"]["name"] == "ray"
    table = headline_table(record)
    assert record["headline_table"] == table
    assert table in (ROOT / "README.md").read_text()
