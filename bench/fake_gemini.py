"""A zero-delay fake Gemini on a loopback port for the benchmarks.

Prints its base URL on one line, then serves until its standard input is closed.
"""

import sys

from globalguide.emulator.vertex.gemini import FakeGemini
from globalguide.emulator.vertex.standalone import serve


def main() -> None:
    server, base_url = serve(FakeGemini())
    print(base_url, flush=True)
    try:
        sys.stdin.read()
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
