"""``beamloop train alignment|trigger``: reproduce the committed network weights."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    train = typer.Typer(help="Train the quantised networks (data from the twin, Brevitas QAT).", no_args_is_help=True)
    app.add_typer(train, name="train")

    @train.command("alignment")
    def alignment(
        out: Path = typer.Option(None, help="weights directory (default: the committed models/weights)"),
        version: str = typer.Option("3", help="network version: 3 (the default networks: the twin's atomic samples) "
                                              "or 4 (sample-invariant candidate, models/weights/v4)"),
        data_dir: Path = typer.Option(None, help="HDF5 feature shards (reused if present: resumable; default "
                                                 "data/alignment-v<version>)"),
        n_train: int = typer.Option(None, help="training pairs (whole range; default: the version's recipe)"),
        n_fine: int = typer.Option(None, help="extra near-aligned training pairs for the fine network"),
        n_val: int = typer.Option(None, help="held-out pairs"),
        n_holdout: int = typer.Option(None, help="pairs in each invariance hold-out set (unseen textures/contrasts)"),
        scheduler: str = typer.Option(None, help="dask scheduler address tcp://host:port (default: a LocalCluster "
                                                 "of --workers processes; or $BEAMLOOP_DASK_SCHEDULER)"),
        epochs: int = typer.Option(None, help="float pre-training epochs (then 10 QAT epochs)"),
        workers: int = typer.Option(2, help="LocalCluster worker processes for data generation (dask)"),
        max_train_seconds: float = typer.Option(None, help="wall-clock cap of the training loops (s)"),
        max_data_seconds: float = typer.Option(None, help="start no data shard after this many seconds; if the data "
                                                          "are incomplete then, exit 3 (run again to resume)"),
        seed: int = typer.Option(0),
    ) -> None:
        """Generate Ronchigram pairs with the twin and train the coarse and fine alignment MLPs on their
        local-magnification features."""
        from beamloop.models.alignment_data import DataIncomplete
        from beamloop.models.alignment_pipeline import RECIPES, run
        from beamloop.models.model_card import write_card
        from beamloop.models.registry import WEIGHTS_DIR

        if version not in RECIPES:
            raise typer.BadParameter(f"must be one of {', '.join(sorted(RECIPES))}, got {version!r}", param_hint="--version")
        try:
            meta = run(out or WEIGHTS_DIR, data_dir or Path(f"data/alignment-v{version}"), n_train, n_val, epochs,
                       workers, max_train_seconds, seed, typer.echo, n_fine=n_fine, n_holdout=n_holdout,
                       scheduler=scheduler, version=version, max_data_seconds=max_data_seconds)
        except DataIncomplete as exc:
            typer.echo(f"data incomplete: {exc}", err=True)
            raise typer.Exit(3) from None
        card = write_card(out or WEIGHTS_DIR)
        typer.echo(f"held-out RMSE (nm): {meta['metrics_heldout']['rmse_nm']}\nmodel card: {card}")

    @train.command("trigger")
    def trigger(
        out: Path = typer.Option(None, help="weights directory (default: the committed models/weights)"),
        data_dir: Path = typer.Option(Path("data/trigger"), help="HDF5 raw stream files (reused if present)"),
        n_train: int = typer.Option(640, help="training streams"),
        n_val: int = typer.Option(64, help="validation streams (early stopping)"),
        n_test: int = typer.Option(128, help="held-out test streams (the reported figures)"),
        hidden: str = typer.Option("16", help="hidden layer widths (16: the committed v3 net; 16,8 costs > 10k LUTs with v3)"),
        epochs: int = typer.Option(200),
        workers: int = typer.Option(2),
        max_train_seconds: float = typer.Option(240.0),
        seed: int = typer.Option(0, help="data seed (stream files *_s<seed+1/2/4>.h5)"),
        features: int = typer.Option(3, help="network input version: 3 = [rb, rb2] (two frames back, default), 2 = [le, rb]"),
        train_seed: int = typer.Option(None, help="network initialisation / batch seed (default: --seed)"),
        rethreshold: bool = typer.Option(False, help="keep the trained network; re-derive its thresholds on the stored "
                                                     "streams (95 % upper-bound rule) and rewrite trigger.json"),
        before: Path = typer.Option(None, help="with --rethreshold: weights dir of the 'before' network, scored the same way"),
    ) -> None:
        """Generate labelled detector streams with the twin and train the trigger MLP."""
        from beamloop.models.model_card import write_card
        from beamloop.models.registry import WEIGHTS_DIR
        from beamloop.models.trigger_pipeline import run

        if rethreshold:
            from beamloop.models.trigger_operating_point import rethreshold as rethr

            try:
                meta = rethr(out or WEIGHTS_DIR, data_dir / f"train_{n_train}_s{seed + 1}.h5",
                             data_dir / f"test_{n_test}_s{seed + 4}.h5", before_dir=before)
            except FileNotFoundError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None
            card = write_card(out or WEIGHTS_DIR)
            m = meta["metrics_heldout"]
            for k in (k for k in m if k.startswith("far_")):
                typer.echo(f"{k}: realised FA {m[k]['false_alarm_rate']:.4f}, precision {m[k]['precision']:.3f}, "
                           f"drift recall {m[k]['recall_drift_beyond']:.3f}, sample recall {m[k]['recall_sample']:.3f}, "
                           f"register {m[k]['threshold_register']}")
            typer.echo(f"model card: {card}")
            return

        meta = run(out or WEIGHTS_DIR, data_dir, n_train=n_train, n_val=n_val, epochs=epochs, workers=workers,
                   max_train_seconds=max_train_seconds, seed=seed, n_test=n_test,
                   hidden=tuple(int(v) for v in hidden.split(",")), progress=typer.echo,
                   features_version=features, train_seed=train_seed)
        card = write_card(out or WEIGHTS_DIR)
        typer.echo(f"held-out: {meta['metrics_heldout']}\nmodel card: {card}")
