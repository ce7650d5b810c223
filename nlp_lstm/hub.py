"""Model directories on the Hugging Face Hub: fetch by repo id, upload a directory.

``SavedModel.from_pretrained`` / ``save_pretrained`` / ``push_to_hub`` (in checkpoint.py) build on
these, following the conventions of ``transformers`` and ``huggingface_hub``. A path that exists
on disk is always used as it is: it never falls through to a network lookup. Only the files of
a model directory are fetched or sent, and loading stays strict safetensors + JSON.
"""

from __future__ import annotations

import re
from pathlib import Path

from nlp_lstm.errors import NlpLstmError

MODEL_FILES = ["config.json", "model.safetensors", "tokenizer.json", "training.json", "evaluation.json", "README.md"]
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name, as the Hub spells repo ids


class HubError(NlpLstmError):
    """The Hub could not give or take a model (offline, unknown repo, no permission)."""


def resolve(name_or_path: str | Path, revision: str | None = None) -> Path:
    """A local model directory for ``name_or_path``: the path itself if it exists, else a Hub snapshot."""
    path = Path(name_or_path).expanduser()
    if path.exists() or not REPO_ID.match(str(name_or_path)):
        return path  # local (or clearly not a repo id): checkpoint.load reports a missing path itself
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    try:
        return Path(snapshot_download(str(name_or_path), revision=revision, allow_patterns=MODEL_FILES))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        raise HubError(
            f"{name_or_path}: not a local directory, and not in the Hugging Face cache while offline; "
            "pass a model directory, or connect and unset HF_HUB_OFFLINE"
        ) from None
    except HfHubHTTPError as error:
        raise HubError(f"{name_or_path}: not a local directory, and the Hub refused it: {error}".splitlines()[0]) from None


def upload(directory: Path, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Create ``repo_id`` if needed and upload the model files of ``directory``; returns the repo URL."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if not REPO_ID.match(repo_id):
        raise HubError(f"{repo_id!r} is not a Hub repo id; use owner/name")
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id, folder_path=directory, allow_patterns=MODEL_FILES, commit_message="Upload nlp-lstm model"
        )
    except OfflineModeIsEnabled:
        raise HubError(f"cannot push to {repo_id}: HF_HUB_OFFLINE is set; unset it on a machine with a network") from None
    except HfHubHTTPError as error:
        raise HubError(f"cannot push to {repo_id}: {error}".splitlines()[0]) from None
    return str(url)
