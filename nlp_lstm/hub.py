"""Where a model name leads (a path, a shipped model, a Hub repo), and the Hub's side of it: fetch by repo id, upload.

``load_model`` / ``from_pretrained`` (loading.py) and ``ModelBundle.from_pretrained`` / ``save_pretrained`` /
``push_to_hub`` (checkpoint.py) build on these, following the conventions of ``transformers`` and
``huggingface_hub``. One resolution order for every front end (API, CLI, server): a path that exists
is used as it is and never falls through to a network lookup; then a shipped model's name, as
``nlp-lstm models`` lists it; then a Hub repo id. Only the files of a model directory are fetched
or sent, and loading stays strict safetensors + JSON.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from nlp_lstm import tasks
from nlp_lstm.catalog import shipped_model_named
from nlp_lstm.errors import ModelLoadError, NlpLstmError

MODEL_FILES = ["config.json", "model.safetensors", "tokenizer.json", "training.json", "evaluation.json", "README.md"]
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name, as the Hub spells repo ids


class HubError(NlpLstmError):
    """The Hub could not give or take a model (offline, unknown repo, no permission)."""


class ModelNotFound(ModelLoadError):
    """No model directory, shipped model or Hub repo id goes by the name given."""


def resolve(name_or_path: str | Path, revision: str | None = None) -> Path:
    """The model directory ``name_or_path`` names: a path that exists, else a shipped model's name, else a Hub repo id.

    A Hub repo id (``owner/name``) is fetched into the Hugging Face cache (only the model files).
    Anything else raises :class:`ModelNotFound`, or :class:`HubError` where the Hub was asked.
    """
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    shipped = shipped_model_named(str(name_or_path))
    if shipped is not None:
        return shipped
    if not REPO_ID.match(str(name_or_path)):
        raise ModelNotFound(f"{name_or_path}: no such model directory, {_not_shipped(path)}")
    return _snapshot(str(name_or_path), revision, path)


def _not_shipped(path: Path) -> str:
    """The rest of a "not found" line: the names that would work, and the one the user may have meant."""
    shipped = tasks.shipped_models().values()
    meant = f"; the shipped one is named {path.name!r}, which works from any directory" if path.name in shipped else ""
    names = ", ".join(shipped)
    return f"and no shipped model is called that (shipped: {names}; nlp-lstm models lists every model){meant}"


def _snapshot(repo_id: str, revision: str | None, path: Path) -> Path:
    """A Hub snapshot of ``repo_id``'s model files; a failure says first that no local directory has that name."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    local = f"{repo_id}: no such directory in {os.getcwd()}, {_not_shipped(path)}"
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=MODEL_FILES))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        raise HubError(
            f"{local}; as a Hub repo id it is not in the Hugging Face cache while offline "
            "(connect and unset HF_HUB_OFFLINE to download it)"
        ) from None
    except HfHubHTTPError as error:
        raise HubError(f"{local}; as a Hub repo id the Hub refused it: {error}".splitlines()[0]) from None


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
