"""Errors a user can cause and fix.

Every error the toolkit raises for bad input derives from :class:`EihMlError`. Its message says what
was expected, what was found (file, row, column, value) and how to fix it. The CLI prints the message
without a traceback and exits with code 2.
"""

from __future__ import annotations


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
