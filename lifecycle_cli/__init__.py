"""The ``lifecycle`` command line: a thin layer over the features, training and serving packages.

``app`` registers the commands of the ``*_commands`` modules; ``options`` holds what several
share and ``errors`` how a user's mistake ends (one ``error:`` line, exit code 2). Imports of heavy
libraries happen inside the commands, so ``lifecycle --help`` is instant.
"""

from lifecycle_cli.app import app

__all__ = ["app"]
