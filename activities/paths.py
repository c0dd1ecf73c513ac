"""Where the product's own data files live: the repository's config/ and prompts/ folders.

Defaults only: Settings.config_dir (CONFIG_DIR) points a deployment elsewhere.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "config"
PROMPTS_DIR = REPO_ROOT / "prompts"
