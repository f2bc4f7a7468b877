"""``python -m lifecycle_cli``: the ``lifecycle`` command."""

import sys

from lifecycle_cli.app import app

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
