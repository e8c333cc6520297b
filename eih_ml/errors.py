"""Errors a user can cause and fix.

Every error the toolkit raises for bad input derives from :class:`EihMlError`. Its message says what
was expected, what was found (file, row, column, value) and how to fix it. The CLI prints the message
without a traceback and exits with code 2.
"""

from __future__ import annotations

from collections.abc import Iterable


class EihMlError(Exception):
    """Base class for errors caused by the user's input (data, dictionary, config)."""

    exit_code = 2


class DataError(EihMlError):
    """A study file cannot be read or does not meet the data contract."""


class DictionaryError(EihMlError):
    """A column dictionary is malformed or does not fit the study file."""


class ConfigError(EihMlError):
    """An experiment config is malformed or asks for something impossible."""


class ModelError(EihMlError):
    """A model cannot be loaded or does not fit the input it is given."""


def close_names(
    name: str, candidates: Iterable[str], *, n: int = 1, cutoff: float = 0.75
) -> list[str]:
    """The ``n`` names of ``candidates`` closest to ``name`` (:func:`difflib.get_close_matches`).

    The one "did you mean" lookup of every message that names a close match (unknown columns,
    config names, categories, API fields).

    Examples
    --------
    >>> close_names("pain_nsr", ["pain_nrs", "age"])
    ['pain_nrs']
    """
    import difflib

    return difflib.get_close_matches(str(name), list(candidates), n=n, cutoff=cutoff)


def did_you_mean(
    name: str, candidates: Iterable[str], *, cutoff: float = 0.75, quote: bool = False
) -> str:
    """`` (did you mean x?)`` naming the closest of ``candidates`` to ``name``, or "".

    ``quote`` writes the name as ``'x'``.

    Examples
    --------
    >>> did_you_mean("femal", ["female", "male"], cutoff=0.6), did_you_mean("zzz", ["age"])
    (' (did you mean female?)', '')
    """
    close = close_names(name, candidates, cutoff=cutoff)
    if not close:
        return ""
    return f" (did you mean {close[0]!r}?)" if quote else f" (did you mean {close[0]}?)"
