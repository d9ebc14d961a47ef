"""The ``forze`` command line: the demo, and operating SQLite, PostgreSQL and MongoDB stores.

``forze --help`` lists the commands. This package is an application, not a library: its one
public name is :func:`main`, the console script's entry point; its modules are private.
Its output needs rich, the ``cli`` extra: ``pip install 'forze[cli]'`` (rich is imported when
output is written, so without it ``forze`` says what to install).
"""

from forze_cli._main import main

__all__ = ["main"]
