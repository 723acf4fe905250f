"""The `sce` command: lazy imports, `--version`, recipes by name, module entries, help without reST markup."""

from __future__ import annotations

import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sce_apps import __version__, cli
from sce_apps.cli import PROGRAMS, load_program, main, script_path, version_text
from sce_apps.help_text import plain_text
from sce_apps.recipes import CONFIGS_DIR, UnknownRecipeError, find_recipe, recipe_names, resolve_config_arguments

MARKUP = re.compile(r"``|:(class|func|meth|attr|mod|data|obj|exc):`")


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["path", "pretrain"], ["recipes"], ["bogus"], []])
def test_top_level_command_imports_no_program(args: list[str]) -> None:
    code = (
        "import sys\nfrom sce_apps.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'lightning_fabric', 'jsonargparse') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr


def test_version_names_every_sce_package(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out == version_text()
    assert out.startswith(f"sce-apps {__version__} (")
    for name in ("sce-losses", "sce-backbones", "sce-video-data", "sce-retrieval"):
        assert f"{name} 0." in out


def test_help_lists_the_programs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(command in out for command in [*PROGRAMS, "path", "recipes"])
    assert not MARKUP.search(out)


@pytest.mark.parametrize("command", list(PROGRAMS))
def test_summary_is_the_docstring_of_the_program(command: str) -> None:
    doc = inspect.getdoc(load_program(command))
    assert doc is not None and doc.splitlines()[0] == PROGRAMS[command].summary


@pytest.mark.parametrize("command", list(PROGRAMS))
def test_program_help_has_no_rest_markup(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: sce {command} ")
    assert "--data" in out or "--features" in out
    assert not MARKUP.search(out), MARKUP.search(out)
    assert "demo" in out  # the --config help lists the recipe names


def test_plain_text() -> None:
    assert plain_text("a ``b c`` d") == "a b c d"
    assert plain_text(":class:`~sce_apps.pretrain.PretrainConfig` or :func:`sce_backbones.build_trunk`") == (
        "PretrainConfig or sce_backbones.build_trunk"
    )
    assert plain_text(":class:`the config <sce_apps.Config>`, `Fire <https://x.y>`__") == "the config, Fire"
    assert plain_text("``sce-\nretrieval`` bank") == "sce-\nretrieval bank"


def test_recipes_are_package_data() -> None:
    import sce_apps

    assert Path(sce_apps.__file__).parent / "configs" == CONFIGS_DIR
    assert {p.name for p in CONFIGS_DIR.iterdir() if p.is_dir()} >= {"pretrain", "linear", "finetune", "extract"}
    assert "r3d18_kinetics400" in recipe_names("pretrain") and recipe_names("linear-eval") == recipe_names("linear")


def test_find_recipe_by_name_or_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_recipe("pretrain", "demo") == CONFIGS_DIR / "pretrain" / "demo.yaml"
    assert find_recipe("linear-eval", "demo.yaml") == CONFIGS_DIR / "linear" / "demo.yaml"
    assert find_recipe("finetune", "r3d18_ucf101") == CONFIGS_DIR / "finetune" / "r3d18_ucf101.yaml"
    own = tmp_path / "mine.yaml"
    own.write_text("train:\n  max_epochs: 1\n")
    assert find_recipe("pretrain", own) == own
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").write_text("{}\n")  # an existing file wins over a recipe name
    assert find_recipe("pretrain", "demo") == Path("demo")
    with pytest.raises(UnknownRecipeError, match=r"unknown recipe 'r3d18_ucf101' for pretrain: .*\(demo, r3d18_"):
        find_recipe("pretrain", "r3d18_ucf101")
    with pytest.raises(UnknownRecipeError, match="recipe not found: nowhere/demo.yaml"):
        find_recipe("pretrain", "nowhere/demo.yaml")


def test_config_arguments_resolved() -> None:
    args = resolve_config_arguments("extract-features", ["--config", "demo", "--features.out", "x", "--config=demo"])
    path = str(CONFIGS_DIR / "extract" / "demo.yaml")
    assert args == ["--config", path, "--features.out", "x", f"--config={path}"]


def test_config_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["linear-eval", "--config", "demo", "--data.train", "/shards", "--print_config"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "train: /shards" in out and "val: heldout" in out


def test_unknown_recipe_name_lists_the_recipes_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["finetune", "--config", "r3d50_kinetics400_8f"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sce finetune: error: unknown recipe 'r3d50_kinetics400_8f'")
    assert ", ".join(recipe_names("finetune")) in err


@pytest.mark.parametrize("command", list(PROGRAMS))
def test_module_entries(command: str) -> None:
    spec = importlib.util.find_spec(PROGRAMS[command].module)
    assert spec is not None and spec.origin is not None
    package = spec.submodule_search_locations is not None
    main_file = Path(spec.origin).parent / "__main__.py" if package else Path(spec.origin)
    assert main_file == script_path(command) and main_file.is_file()


def test_entry_runs_as_module_and_as_file(tmp_path: Path) -> None:
    as_module = subprocess.run(
        [sys.executable, "-m", "sce_apps.pretrain", "--config", "demo", "--print_config"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert as_module.returncode == 0 and "queue_size: 512" in as_module.stdout, as_module.stderr
    # As a file (what `fabric run` does): its folder inside the package (first on sys.path) is no import location.
    as_file = subprocess.run(
        [sys.executable, str(script_path("pretrain")), "--config", "demo", "--print_config"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert as_file.returncode == 0 and "queue_size: 512" in as_file.stdout, as_file.stderr


def test_run_entry_takes_its_folder_off_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    ran = []
    monkeypatch.setattr(cli, "program_main", lambda command, prog: ran.append((command, prog, list(sys.path))))
    folder = str(script_path("extract-features").parent)
    monkeypatch.setattr(sys, "path", [folder, *sys.path])
    cli.run_entry("extract-features", str(script_path("extract-features")))
    assert ran[0][:2] == ("extract-features", "python -m sce_apps.extract_features") and folder not in ran[0][2]


@pytest.mark.parametrize("command", list(PROGRAMS))
def test_every_section_help_shows_that_section_only(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    sections = sorted(set(re.findall(r"^  --(\w+) CONFIG", capsys.readouterr().out, flags=re.MULTILINE)) - {"config"})
    assert "fabric" in sections and len(sections) >= 2
    for section in sections:
        main([command, f"--{section}.help"])
        out = capsys.readouterr().out
        assert out.startswith(f"usage: sce {command} [--{section}.FIELD VALUE ...]")
        assert f"--{section}." in out
        assert not [other for other in sections if other != section and f"--{other}." in out]
