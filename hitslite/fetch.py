"""Pretrained weights for a pip-installed package: download a zoo entry from the repository's published files.

A wheel built from the repository (``pip install git+https://github.com/hitslite/hitslite``) holds the
code and ``zoo_pins.json`` (the SHA-256 of every committed manifest) but no weights. Its
:func:`~hitslite.zoo.zoo_dir` is ``~/.cache/hitslite/zoo`` (or ``$HITSLITE_ZOO_DIR``), which starts
empty; :func:`fetch_entry` fills it, one entry at a time, and
:func:`~hitslite.zoo.load_pretrained` calls it by itself for a pinned entry missing there.

Where from. ``base_url`` if given, else ``$HITSLITE_ZOO_URL``, else :data:`DEFAULT_ZOO_URL` with this
package's version filled in: ``https://raw.githubusercontent.com/hitslite/hitslite/v0.1.0/data/zoo``.
Releases are tagged ``vMAJOR.MINOR.PATCH`` on ``main`` (``CHANGELOG.md``), the tag equal to
``hitslite.__version__``, so a package downloads the zoo of its own release: the one whose manifests
its pins name. ``HITSLITE_ZOO_URL`` may name any copy with the layout ``<url>/<entry>/<file>``: a
mirror, another tag, or ``file:///path/to/checkout/data/zoo``.

Why a download can be trusted (as far as the pins go). The manifest is fetched first and its SHA-256
must equal the package's pin, or nothing is written; it is then validated as every manifest is (keys,
plain file names that cannot leave the entry's folder, 64-hex digests), and every file it lists is
downloaded and checked against the SHA-256 it gives. Files are downloaded into a private staging folder
next to the entry and moved into place only when all of them passed, the manifest last, so an
interrupted or refused download never leaves an entry that looks present. ``HITSLITE_OFFLINE=1``
forbids downloading altogether.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException
from pathlib import Path

from . import __version__
from .io import file_sha256
from .zoo import store
from .zoo.registry import ZooError, check_name, get_entry, zoo_dir
from .zoo.store import MANIFEST_FILE

__all__ = ["DEFAULT_ZOO_URL", "zoo_url", "offline", "fetch_entry"]

#: where a release's weights are published: the repository's ``data/zoo`` at the release tag
DEFAULT_ZOO_URL = "https://raw.githubusercontent.com/hitslite/hitslite/v{version}/data/zoo"
#: seconds to wait for a server before giving up on a request
TIMEOUT_S = 60
#: a manifest is a few kB; refuse to read more than this from a server
MAX_MANIFEST_BYTES = 2**20
#: the repository keeps every file below 4 MiB (weights are sharded); refuse to read more than this
MAX_FILE_BYTES = 64 * 2**20
_SCHEMES = ("https", "http", "file")


def zoo_url() -> str:
    """The base URL entries are downloaded from: ``$HITSLITE_ZOO_URL``, else :data:`DEFAULT_ZOO_URL` at
    this package's release tag (``v{hitslite.__version__}``)."""
    return os.environ.get("HITSLITE_ZOO_URL") or DEFAULT_ZOO_URL.format(version=__version__)


def offline() -> bool:
    """Whether ``$HITSLITE_OFFLINE`` forbids downloading (``1``, ``true``, ``yes``, ``on``)."""
    return os.environ.get("HITSLITE_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _help(name: str) -> str:
    return (f"The weights of hitslite {__version__} are published at "
            f"{DEFAULT_ZOO_URL.format(version=__version__)} (the release tag v{__version__}). To download "
            "from another copy (a mirror, or file:///path/to/hitslite/data/zoo of a checkout), set "
            f"HITSLITE_ZOO_URL to it; or train the entry here with `python -m hitslite.zoo train {name}`.")


def _open(url: str, name: str):
    """``urlopen(url)``, with every failure turned into a :class:`ZooError` that names the URL."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise ZooError(f"cannot download zoo entry {name!r} from {url!r}: the URL must start with "
                       f"{' or '.join(s + '://' for s in _SCHEMES)}. {_help(name)}")
    request = urllib.request.Request(url, headers={"User-Agent": f"hitslite/{__version__}"})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)  # the scheme was checked above
    except urllib.error.HTTPError as err:
        reason = f"HTTP {err.code} {err.reason}"
    except urllib.error.URLError as err:
        reason = str(err.reason)
    except (OSError, HTTPException, ValueError) as err:  # timeouts, resets, a malformed URL
        reason = f"{type(err).__name__}: {err}"
    raise ZooError(f"could not download zoo entry {name!r}: {url}: {reason}. {_help(name)}")


def _read(response, url: str, name: str, limit: int, sink):
    """Stream ``response`` into ``sink(bytes)``; the SHA-256 of what was read. ZooError past ``limit``."""
    digest, size = hashlib.sha256(), 0
    try:
        with response:
            for block in iter(lambda: response.read(1 << 20), b""):
                size += len(block)
                if size > limit:
                    raise ZooError(f"could not download zoo entry {name!r}: {url} is larger than "
                                   f"{limit} bytes, far more than any zoo file; {_help(name)}")
                digest.update(block)
                sink(block)
    except (OSError, HTTPException) as err:  # the connection broke off mid-file
        raise ZooError(f"could not download zoo entry {name!r}: {url}: {type(err).__name__}: {err}. "
                       f"{_help(name)}") from err
    return digest


def _download_manifest(url: str, name: str, pin: str) -> tuple[bytes, dict]:
    """The bytes of the manifest at ``url`` and its parsed, validated content, if its SHA-256 is ``pin``."""
    chunks: list[bytes] = []
    digest = _read(_open(url, name), url, name, MAX_MANIFEST_BYTES, chunks.append).hexdigest()
    blob = b"".join(chunks)
    if digest != pin:
        raise ZooError(f"zoo entry {name!r}: the manifest at {url} is not the one this package pins "
                       f"(SHA-256 {digest[:16]}..., pinned in {store.PINS_FILE.name}: {pin[:16]}...). It "
                       "belongs to another release of hitslite, or it was altered; nothing was downloaded. "
                       f"Point HITSLITE_ZOO_URL at the zoo of hitslite {__version__} (tag v{__version__}), "
                       f"or train the entry here with `python -m hitslite.zoo train {name}`.")
    try:
        manifest = json.loads(blob)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:  # only if the pinned manifest itself is bad
        raise ZooError(f"zoo entry {name!r}: the manifest at {url} is not valid JSON ({err})") from err
    # the structure check every manifest gets: plain file names that cannot leave the entry's folder
    return blob, store.validate_manifest(name, manifest, url)


def _download_file(url: str, path: Path, sha256: str, name: str) -> None:
    """Write the file at ``url`` to ``path`` (a new file in the staging folder); ZooError unless its
    SHA-256 is ``sha256``."""
    with open(path, "xb") as f:
        digest = _read(_open(url, name), url, name, MAX_FILE_BYTES, f.write).hexdigest()
        f.flush()
        os.fsync(f.fileno())
    if digest != sha256:
        raise ZooError(f"zoo entry {name!r}: {url} does not match the SHA-256 its (pinned) manifest lists "
                       f"for it (got {digest[:16]}..., expected {sha256[:16]}...): a corrupted, truncated or "
                       "altered download, or a Git LFS pointer in place of the file; nothing was kept. "
                       f"{_help(name)}")


def fetch_entry(name: str, *, base_url: str | None = None,
                directory: str | os.PathLike | None = None) -> Path:
    """Download zoo entry ``name`` into ``directory/name`` (default :func:`~hitslite.zoo.zoo_dir`) and
    return that folder, verified.

    ``base_url`` (default :func:`zoo_url`) holds ``<entry>/manifest.json`` and the files it lists. The
    manifest must equal the package's pin in ``zoo_pins.json`` (so only pinned entries can be fetched),
    and every file its SHA-256; files already present with the right SHA-256 are not downloaded again,
    and an entry that verifies already returns without a request. Raises :class:`~hitslite.zoo.ZooError`
    for an unknown or unpinned entry, ``HITSLITE_OFFLINE=1``, a network error (naming the URL), a
    manifest that is not the pinned one, or a file that does not match; nothing is moved into
    ``directory/name`` unless every file passed.
    """
    get_entry(name)  # unknown entry: ZooError listing the known ones
    check_name(name, "a zoo entry name")
    folder = Path(directory or zoo_dir()) / name
    pin = store.read_pins().get(name)
    if pin is None:
        raise ZooError(f"zoo entry {name!r} is not pinned by this package ({store.PINS_FILE.name}), so a "
                       "downloaded manifest could not be trusted and none is fetched; train it with "
                       f"`python -m hitslite.zoo train {name}`")
    local = folder / MANIFEST_FILE
    if local.is_file() and file_sha256(local) == pin:
        try:
            store.verify(name, directory)
            return folder
        except ZooError:  # a listed file is missing or damaged: download what is needed
            pass
    if offline():
        raise ZooError(f"no pretrained weights for {name!r} in {folder}, and HITSLITE_OFFLINE is set, which "
                       "forbids downloading them; unset it (or run `python -m hitslite.zoo fetch "
                       f"{name}` where a network is available), or train them with "
                       f"`python -m hitslite.zoo train {name}`")
    base = (base_url or zoo_url()).rstrip("/")
    blob, manifest = _download_manifest(f"{base}/{name}/{MANIFEST_FILE}", name, pin)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging: Path | None = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=folder.parent))
    try:
        for fname, sha256 in manifest["files"].items():
            have = folder / fname
            if have.is_file() and file_sha256(have) == sha256:
                continue
            _download_file(f"{base}/{name}/{urllib.parse.quote(fname)}", staging / fname, sha256, name)
        (staging / MANIFEST_FILE).write_bytes(blob)
        if not folder.exists():
            try:  # the usual case: the whole entry appears at once
                os.rename(staging, folder)
                staging = None
            except OSError:  # it appeared meanwhile (another process fetching too): move file by file
                pass
        if staging is not None:
            folder.mkdir(exist_ok=True)
            for path in sorted(staging.iterdir(), key=lambda p: p.name == MANIFEST_FILE):  # manifest last
                os.replace(path, folder / path.name)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    store.verify(name, directory)  # config equal to the code's, every file's SHA-256 in place
    return folder
