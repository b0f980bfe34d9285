"""Every asset page in the UI links to the file that defines the asset.

Locally the link is the file on disk (`with_source_code_references`); with THINKFORGE_GIT_URL set (a GitHub or
GitLab repository address) it is that file's page in the repository, on THINKFORGE_GIT_BRANCH (default main).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dagster import (
    AnchorBasedFilePathMapping,
    AssetsDefinition,
    link_code_references_to_git,
    with_source_code_references,
)

from thinkforge.paths import REPO_ROOT


def with_code_references(
    assets: Sequence[AssetsDefinition],
    git_url: str | None = None,
    git_branch: str | None = None,
) -> list[AssetsDefinition]:
    """`assets` with a code reference to their source file (linked into the repository when `git_url` is given)."""
    git_url = os.environ.get("THINKFORGE_GIT_URL", "") if git_url is None else git_url
    referenced = with_source_code_references(assets)
    if git_url:
        referenced = link_code_references_to_git(
            referenced,
            git_url=git_url,
            git_branch=git_branch or os.environ.get("THINKFORGE_GIT_BRANCH", "main"),
            file_path_mapping=AnchorBasedFilePathMapping(
                local_file_anchor=REPO_ROOT, file_anchor_path_in_repository=""
            ),
        )
    return list(referenced)
