"""What every use of a Ray cluster shares: importing Ray, connecting, and checking a node runs the driver's code.

Ray is imported only inside these functions, so the default install needs nothing new.
"""

from __future__ import annotations

import hashlib
import logging
import socket
from pathlib import Path
from types import ModuleType

from .errors import MissingExtra, XImageNet12Error, one_line

ENGINES = ("local", "ray")  # where `build` and `evaluate` run: this machine, or a Ray cluster
CONNECT_ATTEMPTS = 3  # Ray Client's per-client server sometimes dies as it starts (ray-project/ray#63202)


class NodeMismatch(XImageNet12Error):
    """A cluster node that does not see the driver's folders, or runs other code than the driver."""


def import_ray(what: str = "--engine ray") -> ModuleType:
    """The `ray` module, or a one-line MissingExtra naming the `ray` extra."""
    try:
        import ray
    except ImportError:
        raise MissingExtra(what, "ray") from None
    return ray


def code_digest(*packages: ModuleType) -> str:
    """sha256 over the path and bytes of every .py file of the given packages."""
    digest = hashlib.sha256()
    for package in packages:
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{package.__name__}/{path.relative_to(root).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def check_identity(driver: dict[str, str], here: dict[str, str], node: str | None = None) -> None:
    """Refuse, naming the node, when its code digest or library versions differ from the driver's."""
    node = node or socket.gethostname()
    for name in sorted(set(driver) | set(here)):
        if driver.get(name) == here.get(name):
            continue
        if name == "code":
            raise NodeMismatch(
                f"node {node} runs other ximagenet12 code than the driver; install the same code on every node"
            )
        raise NodeMismatch(
            f"node {node} has {name} {here.get(name)}, the driver {driver.get(name)}; "
            "install the same versions on every node"
        )


def check_reachable(address: str | None, timeout: float = 10.0) -> None:
    """Refuse at once an explicit HOST:PORT or ray://HOST:PORT where nothing listens (Ray would retry for minutes)."""
    if not address or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise XImageNet12Error(f"--address {address}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise XImageNet12Error(
            f"--address {address}: no Ray cluster answers there ({exc.strerror or exc}); "
            "start one with `ray start --head` or fix the address"
        ) from None


def connect(ray: ModuleType, address: str | None) -> None:
    """`ray.init(address)`, retried when Ray Client's server dies as it starts; a one-line error if no cluster."""
    check_reachable(address)
    where = address or "RAY_ADDRESS or a cluster started on this machine"
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
            return
        except ConnectionAbortedError as exc:  # Ray Client's server died starting; nothing was sent yet
            ray.shutdown()
            if attempt == CONNECT_ATTEMPTS:
                raise XImageNet12Error(f"--engine ray: no Ray cluster at {where}: {one_line(exc)}") from None
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise XImageNet12Error(f"--engine ray: no Ray cluster at {where}: {one_line(exc)}") from None
