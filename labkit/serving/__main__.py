"""``python -m labkit.serving --model PATH --name NAME --port PORT``: see labkit.serving.server."""

import sys

from labkit.serving.server import main

if __name__ == "__main__":
    sys.exit(main())
