"""A copy of this checkout as it stands, for tests that build or install from it."""

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def copy_working_tree(destination: Path) -> Path:
    """Copy every file git tracks or would track (new files included, ignored ones not)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listing.split("\0")):
        if (REPO / name).is_file():  # a file deleted but not yet committed is skipped
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)
    return destination
