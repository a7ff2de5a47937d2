"""Hub and network failures as one-line messages with distinct exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ximagenet12.errors import (
    EXIT_AUTH,
    EXIT_FAULTS,
    EXIT_NETWORK,
    EXIT_NOT_FOUND,
    EXIT_UPLOAD,
    EXIT_USAGE,
    XImageNet12Error,
)

__all__ = ["EXIT_AUTH", "EXIT_FAULTS", "EXIT_NETWORK", "EXIT_NOT_FOUND", "EXIT_UPLOAD", "EXIT_USAGE", "PublishError"]


class PublishError(XImageNet12Error):
    """A publish that cannot go on: a one-line message and the exit code to leave with."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message, exit_code)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an error that carries a response, else None."""
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


@contextmanager
def hub_errors(repo_id: str) -> Iterator[None]:
    """Turn huggingface_hub and network errors into one-line `PublishError`s with their exit codes."""
    try:
        yield
    except PublishError:
        raise
    except Exception as exc:
        error = translate(exc, repo_id)
        if error is exc:
            raise
        raise error from None


def translate(exc: BaseException, repo_id: str) -> BaseException:
    """A `PublishError` for a Hub or network failure; other exceptions unchanged."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    endpoint = constants.ENDPOINT
    namespace = repo_id.split("/")[0]
    if isinstance(exc, OfflineModeIsEnabled):
        return PublishError("HF_HUB_OFFLINE is set: unset it to publish", EXIT_NETWORK)
    if isinstance(exc, RepositoryNotFoundError):
        return PublishError(
            f"dataset repo {repo_id} not found at {endpoint}, or not visible with this token (404)", EXIT_NOT_FOUND
        )
    if isinstance(exc, HfHubHTTPError):
        status, detail = status_of(exc), (exc.server_message or "").strip().splitlines()
        detail = f": {detail[0]}" if detail else ""
        if status == 401:
            return PublishError(
                f"{endpoint} refused the token (401 Unauthorized){detail}; set HF_TOKEN to a valid token or run "
                "`hf auth login`",
                EXIT_AUTH,
            )
        if status == 403:
            return PublishError(
                f"the token may not write to {namespace} on {endpoint} (403 Forbidden){detail}; use a token with "
                f"write access to {namespace}",
                EXIT_AUTH,
            )
        if status == 404:
            return PublishError(f"not found at {endpoint} (404){detail}", EXIT_NOT_FOUND)
        if status == 412:
            return PublishError(
                f"{repo_id} changed while publishing (412){detail}; run the command again to plan against it",
                EXIT_UPLOAD,
            )
        return PublishError(f"{endpoint} answered {status}{detail}", EXIT_UPLOAD)
    if isinstance(exc, httpx2.TransportError | ConnectionError | TimeoutError):
        return PublishError(f"cannot reach the Hub at {endpoint} ({type(exc).__name__}: {exc})", EXIT_NETWORK)
    if isinstance(exc, ValueError) and "metadata" in str(exc).lower():
        return PublishError(f"the Hub refused the card: {' '.join(str(exc).split())}", EXIT_FAULTS)
    return exc
