"""A rich progress bar over models and outer folds, for ``eih-ml train``."""

from __future__ import annotations

from eih_ml.experiment import Progress


class RichProgress(Progress):
    """Shows the current stage and one bar per model (outer folds done / total)."""

    def __init__(self, console):
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as _Bar

        self._bar = _Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, int] = {}
        self._stage = None

    def __enter__(self) -> RichProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.__exit__(*exc)

    def stage(self, text: str) -> None:
        if self._stage is None:
            self._stage = self._bar.add_task(text, total=None)
        else:
            self._bar.update(self._stage, description=text)

    def start_model(self, name: str, total_folds: int) -> None:
        self._tasks[name] = self._bar.add_task(f"  {name}", total=total_folds)

    def fold_done(self, name: str) -> None:
        self._bar.advance(self._tasks[name])
