"""A rich progress bar over models and outer folds, for ``eih-ml train``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eih_ml.experiment import Progress

if TYPE_CHECKING:
    from types import TracebackType

    from rich.console import Console
    from rich.progress import TaskID


class RichProgress(Progress):
    """Shows the current stage and one bar per model (outer folds done / total)."""

    def __init__(self, console: Console) -> None:
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
        self._tasks: dict[str, TaskID] = {}
        self._stage: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._bar.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.__exit__(exc_type, exc, tb)

    def stage(self, text: str) -> None:
        if self._stage is None:
            self._stage = self._bar.add_task(text, total=None)
        else:
            self._bar.update(self._stage, description=text)

    def start_model(self, name: str, total_folds: int) -> None:
        self._tasks[name] = self._bar.add_task(f"  {name}", total=total_folds)

    def fold_done(self, name: str) -> None:
        self._bar.advance(self._tasks[name])
