"""Linear evaluation (``sce linear-eval``) as a module: ``python -m sce_apps.linear_eval``.

Also ``torchrun -m sce_apps.linear_eval ...`` and ``fabric run ... $(sce path linear-eval) ...`` (the path of this
file).
"""

from sce_apps.cli import run_entry

if __name__ == "__main__":
    run_entry("linear-eval", __file__)
