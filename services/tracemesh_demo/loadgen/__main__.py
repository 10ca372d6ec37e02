"""`python -m tracemesh_demo.loadgen [locust flags]`: Locust with tracemesh's users, e.g.

python -m tracemesh_demo.loadgen --headless --host http://127.0.0.1:8080 --users 10 --run-time 30s
"""

from __future__ import annotations

import sys
from pathlib import Path

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def main() -> None:
    # Imported here: Locust patches the standard library for gevent as it is imported.
    from locust.main import main as locust_main

    sys.argv = [sys.argv[0], "--locustfile", str(LOCUSTFILE), *sys.argv[1:]]
    locust_main()


if __name__ == "__main__":
    main()
