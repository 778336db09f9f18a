"""Downloading data files once, verified, into a cache folder (used by nnlib.data and nnlib.text).

A :class:`RemoteFile` names a file, its SHA-256, its size and the URLs to try in order;
:func:`fetch` returns its local path in the cache folder (``$NNLIB_DATA`` or
``~/.cache/nnlib``, see :func:`data_home`), downloading it first if needed.

Each download is streamed into a temporary file next to its destination, its SHA-256 is
checked *after* the download, and only a verified file is renamed into place (an atomic step:
a crash or a bad download never leaves a half-written file under the real name). A cached file
is verified too. Network errors are retried with a growing pause, then the next URL is tried;
when no host name resolves (the machine is offline) each URL is tried only once. Failures raise
:class:`DownloadError` (or :class:`ChecksumError` when every attempt delivered wrong bytes),
naming every URL tried and what to do without a network.

Why not pooch? It does the verify-then-rename and the retries well, but it knows one URL per
file (MNIST needs a mirror list), reports a wrong checksum as a plain ``ValueError``, and brings
requests with it; the standard library does the job in the code below, which the book can show.
"""

import hashlib
import http.client
import os
import socket
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DATA_ENV = "NNLIB_DATA"


def data_home(root=None):
    """The cache folder: ``root`` if given, else ``$NNLIB_DATA``, else ``~/.cache/nnlib``."""
    if root is None:
        root = os.environ.get(DATA_ENV) or Path.home() / ".cache" / "nnlib"
    return Path(root).expanduser()


@dataclass(frozen=True)
class RemoteFile:
    """A file to download: its name, SHA-256, size in bytes and the URLs to try in order."""

    name: str
    sha256: str
    size: int
    urls: tuple


class DownloadError(OSError):
    """No URL of a file could be downloaded (the message lists what was tried and why it failed)."""


class ChecksumError(DownloadError):
    """A downloaded (or cached) file does not have the expected SHA-256; it was deleted."""


def sha256_of(path, chunk=1 << 20):
    """The SHA-256 of a file as a hex string, read in chunks (files may be larger than memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _open_url(url, timeout):
    """The one network call (tests replace the server, not this function)."""
    request = urllib.request.Request(url, headers={"User-Agent": "nnlib (the book's companion library)"})
    return urllib.request.urlopen(request, timeout=timeout)


def _byte_bar(remote, show):
    """A tqdm bar counting the bytes of ``remote``, or ``None`` (not wanted, or tqdm missing)."""
    if not show:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return tqdm(total=remote.size, unit="B", unit_scale=True, desc=remote.name, leave=False)


def _download_once(url, remote, dest, timeout, show_progress):
    """Stream ``url`` into a temporary file beside ``dest``, verify it, then rename it to ``dest``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{remote.name}.", suffix=".part", dir=dest.parent)
    try:
        digest, received = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out, _open_url(url, timeout) as response:
            bar = _byte_bar(remote, show_progress)
            try:
                while block := response.read(1 << 16):
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    if bar is not None:
                        bar.update(len(block))
            finally:
                if bar is not None:
                    bar.close()
        if digest.hexdigest() != remote.sha256:
            raise ChecksumError(
                f"{remote.name} from {url}: SHA-256 {digest.hexdigest()} ({received} bytes) does not match "
                f"the expected {remote.sha256} ({remote.size} bytes); the download was corrupted or the "
                "file changed"
            )
        os.replace(tmp, dest)  # atomic: dest is either absent or complete and verified
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def fetch(remote, root=None, *, retries=2, timeout=60, backoff=1.0, progress_bar=True, offline_hint=""):
    """The local path of ``remote`` (a :class:`RemoteFile`) in ``data_home(root)``, downloading
    and verifying it if needed.

    A cached file is verified too (and downloaded again if it does not match). Each URL is tried
    ``1 + retries`` times, pausing ``backoff·2^attempt`` seconds between tries (once only if its
    host name cannot be resolved); then the next URL. ``timeout`` bounds each network wait.
    Raises :class:`ChecksumError` if every attempt delivered wrong bytes, else
    :class:`DownloadError`; both name the URLs tried, then ``offline_hint`` (the caller's advice
    for working without a network), then how to place the file by hand.
    """
    folder = data_home(root)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / remote.name
    if dest.exists():
        if sha256_of(dest) == remote.sha256:
            return dest
        dest.unlink()  # damaged or from elsewhere: fetch a good copy
    failures = []  # (url, attempts, last exception)
    for url in remote.urls:
        for attempt in range(1 + retries):
            try:
                _download_once(url, remote, dest, timeout, progress_bar)
                return dest
            # URLError, timeouts and ChecksumError are OSErrors; a cut-off body is an HTTPException
            except (OSError, http.client.HTTPException) as exc:
                last = exc
                if _host_unknown(exc):  # no DNS answer (offline?): waiting will not help
                    break
                if attempt < retries:
                    time.sleep(backoff * 2**attempt)
        failures.append((url, attempt + 1, last))
    tried = "\n".join(f"  {url} ({n} attempt{'s' * (n > 1)}): {type(exc).__name__}: {exc}"
                      for url, n, exc in failures)
    error = ChecksumError if all(isinstance(e, ChecksumError) for *_, e in failures) else DownloadError
    offline = "No host name could be resolved: this machine seems to be offline. " if all(
        _host_unknown(e) for *_, e in failures) else ""
    hint = f"{offline_hint} " if offline_hint else ""
    raise error(f"could not download {remote.name} into {folder}:\n{tried}\n{offline}{hint}"
                f"You can also copy {remote.name} (SHA-256 {remote.sha256}) into {folder} by hand.")


def _host_unknown(exc):
    return isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, socket.gaierror)
