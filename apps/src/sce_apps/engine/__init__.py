"""The engine every program runs on: shared settings sections, launch, resume, checkpoints, metrics, errors.

* :mod:`~sce_apps.engine.sections`: the ``fabric``, ``train`` and ``optim`` sections and value checks;
* :mod:`~sce_apps.engine.launch`: a Fabric that also works under ``fabric run``, and what really ran;
* :mod:`~sce_apps.engine.threads`: torch's CPU threads sized from the CPUs granted, adapted to other work;
* :mod:`~sce_apps.engine.checkpoints`: the one checkpoint format (versioned, checksummed, atomic);
* :mod:`~sce_apps.engine.metrics`: crash-proof metrics (``metrics.jsonl``, ``metrics.csv``) and the curves;
* :mod:`~sce_apps.engine.run`: a run's life (launch, resume, log, save, finish) and its step arithmetic;
* :mod:`~sce_apps.engine.provenance`: what every result came from (data hashes, settings, versions, decoder);
* :mod:`~sce_apps.engine.errors`: one line on rank 0 and exit 2 for user errors;
* :mod:`~sce_apps.engine.atomic`: the atomic, symlink-safe writes of every file.
"""
