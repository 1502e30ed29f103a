"""``python -m carebridge.cli``: the ``carebridge`` command."""

import sys

from carebridge.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
