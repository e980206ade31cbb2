"""The corpus scripts are Neptune scripts: apart from their import lines (each marked with what it
replaced), nothing in them mentions Despina, and every script has its test module."""

from __future__ import annotations

from pathlib import Path

from neptune_corpus import SCRIPTS

HERE = Path(__file__).resolve().parent


def test_scripts_differ_from_neptune_code_only_in_import_lines() -> None:
    scripts = sorted(SCRIPTS.glob("*.py"))
    assert len(scripts) >= 8
    for script in scripts:
        changed = [line for line in script.read_text().splitlines() if "despina" in line.lower()]
        assert changed, f"{script.name} does not use the compatibility layer"
        for line in changed:
            assert line.startswith(("import despina.compat.neptune", "from despina.compat.neptune")), line
            assert "# was: " in line and "neptune" in line.split("# was: ", 1)[1], line
        assert (HERE / f"test_compat_{script.stem}.py").is_file(), f"{script.name} has no test module"
