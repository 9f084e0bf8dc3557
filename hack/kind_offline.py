"""Whether `make kind-up` builds its images here (offline) or uses kind's stock node image.

`python hack/kind_offline.py` prints 1 (offline: build the images locally, hack/kind/images.sh)
or 0 (a registry answers: kind pulls its stock node image). KIND_OFFLINE=1 or 0 decides without
asking; otherwise the answer is whether Docker Hub's registry API answers within a few seconds.
Where no DNS or route leads there (our CI), that fails within milliseconds.

`crictl info | python hack/kind_offline.py sandbox-image` prints the sandbox (pause) image of a
node's containerd, or nothing where it does not say (containerd 2 keeps it apart): `make
kind-deploy` runs the headroom placeholders on it, the one image an offline node holds for sure.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

# kind's stock node image (kindest/node) is on Docker Hub.
REGISTRY_URL = "https://registry-1.docker.io/v2/"
API_HEADER = "Docker-Distribution-Api-Version"


def registry_answers(url: str = REGISTRY_URL, timeout: float = 5.0) -> bool:
    """True if `url` answers as a registry API does (any status, with the API version header).

    A proxy or captive portal that answers without the header does not count.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.headers.get(API_HEADER) is not None
    except urllib.error.HTTPError as error:  # 401 is the usual answer of /v2/
        return error.headers.get(API_HEADER) is not None
    except (OSError, ValueError):
        return False


def offline(setting: str | None, probe: Callable[[], bool] = registry_answers) -> bool:
    """KIND_OFFLINE=1/true/yes forces offline, 0/false/no online; unset or empty: probe."""
    value = (setting or "").strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    if value:
        raise ValueError(f"KIND_OFFLINE must be 1 or 0, not {setting!r}")
    return not probe()


def sandbox_image(cri_info: Mapping[str, Any]) -> str:
    """The sandbox image in `crictl info`'s answer (containerd 1.x: config.sandboxImage)."""
    image = (cri_info.get("config") or {}).get("sandboxImage")
    return image if isinstance(image, str) else ""


if __name__ == "__main__":
    if sys.argv[1:] == ["sandbox-image"]:
        try:
            print(sandbox_image(json.loads(sys.stdin.read() or "{}")))
        except json.JSONDecodeError:
            print()
    else:
        print(1 if offline(os.environ.get("KIND_OFFLINE")) else 0)
    sys.exit(0)
