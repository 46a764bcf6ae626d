"""The zoo's command line, ``python -m hitslite.zoo``: list, train, select, rewrite, verify, pin, fetch.

Every failure of a subcommand is one ``error:`` line and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from . import store
from .hits import select_entry_levels
from .loading import rewrite_weights, train_entry
from .registry import ENTRIES, ZooError, zoo_dir

__all__ = ["main"]

DESCRIPTION = "Pretrained weights: train once with our own script, commit, verify on every load."


def main(argv: list[str] | None = None) -> int:
    """Run the zoo's command line on ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m hitslite.zoo", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered entries and whether weights are present")
    p_train = sub.add_parser("train", help="train an entry (resumable) and write it to the zoo")
    p_train.add_argument("entries", nargs="+", help="entry names, or 'all'")
    p_train.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cpu)")
    p_train.add_argument("--quiet", action="store_true", help="no progress bars")
    p_select = sub.add_parser("select",
                              help="choose the coupled levels of a HiTS level set on validation data")
    p_select.add_argument("entries", nargs="+")
    p_select.add_argument("--device", default=None)
    p_rewrite = sub.add_parser("rewrite",
                               help="store an entry's weights again in its storage dtype (no training)")
    p_rewrite.add_argument("entries", nargs="+")
    p_verify = sub.add_parser("verify", help="check manifests and SHA-256 of entries (default: all present "
                                             "and all pinned); exits 1 if any fails or none was verified")
    p_verify.add_argument("entries", nargs="*")
    p_pin = sub.add_parser("pin", help="after verifying them, pin the SHA-256 of the committed manifests in "
                                       "the package (default: every entry present)")
    p_pin.add_argument("entries", nargs="*")
    p_fetch = sub.add_parser("fetch", help="download pinned entries (or 'all') into the zoo: a pip-installed "
                                           "package has no weights (hitslite/fetch.py)")
    p_fetch.add_argument("entries", nargs="+")
    p_fetch.add_argument("--url", default=None, help="base URL (default: $HITSLITE_ZOO_URL, else this "
                                                     "release's data/zoo on GitHub)")
    args = parser.parse_args(argv)
    try:
        return _run_command(args)
    except ZooError as err:  # a clear message, never a traceback
        print(f"error: {err}", file=sys.stderr)
        return 1


def _run_command(args) -> int:
    if args.command == "list":
        for name, entry in sorted(ENTRIES.items()):
            present = (zoo_dir() / name / store.MANIFEST_FILE).exists()
            state = ("present" if present else f"not downloaded (python -m hitslite.zoo fetch {name})"
                     if name in store.read_pins() else "missing")
            print(f"{name:24s} {state:8s} {entry.description}")
        return 0
    if args.command == "fetch":
        from ..fetch import fetch_entry

        for name in sorted(store.read_pins()) if args.entries == ["all"] else args.entries:
            print(f"fetched {name}: {fetch_entry(name, base_url=args.url)}", flush=True)
        return 0
    if args.command == "train":
        names = sorted(ENTRIES) if args.entries == ["all"] else args.entries
        for name in names:
            train_entry(name, device=args.device, progress=not args.quiet)
            print(f"trained {name}: {zoo_dir() / name}")
        return 0
    if args.command == "rewrite":
        for name in args.entries:
            m = rewrite_weights(name)
            print(f"{name}: weights stored as {m['storage_dtype']} in {sorted(m['files'])}")
        return 0
    if args.command == "select":
        for name in args.entries:
            record = select_entry_levels(name, device=args.device)
            print(f"{name}: NNTS {record['lower']}-{record['upper']}, validation MSE "
                  f"{record['validation_mse']:.2e} ({record['seconds']} s)")
        return 0
    if args.command == "pin":
        pins = store.pin_manifests(args.entries or None)
        for name, digest in pins.items():
            print(f"pinned  {name} {digest[:16]}")
        print(f"{len(pins)} manifests pinned in {store.PINS_FILE}")
        return 0
    folder = zoo_dir()
    # every entry present, and every pinned (committed) one: a committed entry that is missing fails
    names = args.entries or sorted({n for n in ENTRIES if (folder / n).exists()} | set(store.read_pins()))
    if not names:
        print(f"nothing to verify: no zoo entries in {folder}")
        return 1
    failed = 0
    for name in names:
        try:
            m = store.verify(name)
            print(f"ok      {name} (trained {m['created']} on {m['device']}, torch {m['torch_version']})")
        except (ZooError, OSError) as err:
            failed += 1
            print(f"FAILED  {name}: {err}")
    print(f"verified {len(names) - failed} of {len(names)} entries in {folder}")
    return 1 if failed else 0
