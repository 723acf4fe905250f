"""Feature extraction (``sce extract-features``) as a module: ``python -m sce_apps.extract_features``.

Also ``torchrun -m sce_apps.extract_features ...`` and ``fabric run ... $(sce path extract-features) ...`` (the path of
this file).
"""

from sce_apps.cli import run_entry

if __name__ == "__main__":
    run_entry("extract-features", __file__)
