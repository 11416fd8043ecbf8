"""The image's HEALTHCHECK: exit 0 when the admin listener answers `GET /healthz` with 200.

It asks 127.0.0.1 on `$PLANO_ADMIN_PORT` (default 9901, the admin listener's default), so it
follows a port moved through the environment. Standard library only: the image has no curl.
"""

import os
import sys
import urllib.request

PATH = "/healthz"
DEFAULT_PORT = "9901"


def main() -> int:
    port = os.environ.get("PLANO_ADMIN_PORT", "").strip() or DEFAULT_PORT
    if port.lower() == "off":
        print("admin listener is off (PLANO_ADMIN_PORT=off): nothing to check", file=sys.stderr)
        return 0
    url = f"http://127.0.0.1:{port}{PATH}"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            ok = response.status == 200
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
