"""Small helpers the chapters share: the compute stamp and the "paper vs this book" table.

A chapter calls :func:`begin` in its setup cell and :func:`stamp` in its last cell, so every page ends
with a line that was computed, not typed: the device it ran on, the torch version, how long the run
took and whether the data cache was cold (nothing generated yet) or warm. :func:`paper_vs_book`
prints the table that sets the paper's numbers beside ours, with the protocol of each column.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from .data import cache_dir
from .device import default_device

__all__ = ["Start", "begin", "stamp", "paper_vs_book"]


@dataclass(frozen=True)
class Start:
    """What :func:`begin` recorded: ``time.perf_counter()`` then, and whether the cache held data."""

    seconds: float
    cache_warm: bool


def begin() -> Start:
    """Record the start of a chapter's run: the clock, and whether the data cache holds any ``.npz`` file."""
    warm = any(cache_dir().glob("*.npz"))
    return Start(seconds=time.perf_counter(), cache_warm=warm)


def _device_words(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    threads = torch.get_num_threads()
    return f"{device.type} ({threads} thread{'s' if threads != 1 else ''})"


def stamp(start: Start, device: torch.device | None = None) -> None:
    """Print the one-line compute stamp of a chapter run that began at ``start``.

    e.g. ``Computed on cpu (1 thread), torch 2.13.0, in 74 s, data cache cold.``
    """
    device = torch.device(device) if device is not None else default_device()
    elapsed = time.perf_counter() - start.seconds
    line = (f"Computed on {_device_words(device)}, torch {torch.__version__}, in {elapsed:.0f} s, "
            f"data cache {'warm' if start.cache_warm else 'cold'}.")
    print(line)


def paper_vs_book(rows: Iterable[Sequence[str]], *, paper_protocol: str | None = None,
                  book_protocol: str | None = None, widths: tuple[int, int] | None = None) -> None:
    """Print ``quantity | paper (protocol) | this book (protocol)`` for rows ``(quantity, paper, ours)``.

    ``paper_protocol`` and ``book_protocol`` (horizon, starts, data size, device) head the two columns,
    so a reader sees what each number was measured on; a row whose protocols differ should say so in
    its own cells ("not comparable", or ours again at the paper's protocol). ``widths`` fixes the widths
    of the first two columns; by default they fit the longest entry.
    """
    rows = [tuple(str(c) for c in r) for r in rows]
    paper_head = "paper" + (f" ({paper_protocol})" if paper_protocol else "")
    book_head = "this book" + (f" ({book_protocol})" if book_protocol else "")
    if widths is None:
        widths = (max(len(r[0]) for r in rows) + 2, max([len(r[1]) for r in rows] + [len(paper_head)]) + 2)
    w0, w1 = widths
    print(f"{'':{w0}s}{paper_head:{w1}s}{book_head}")
    for what, paper, ours in rows:
        print(f"{what:{w0}s}{paper:{w1}s}{ours}")
