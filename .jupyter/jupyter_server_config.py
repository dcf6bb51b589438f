"""Jupyter's settings for this repository, read by `make lab`.

`make lab` points JUPYTER_CONFIG_PATH here. Opening a chapter must leave the
tree clean: when the kernel starts, JupyterLab writes the kernel's
``kernelspec`` and ``language_info`` into the notebook, and the first autosave
writes both files of the pair (jupytext's contents manager). The kernelspec
is committed as ipykernel's (``Python 3 (ipykernel)``); ``language_info``
holds the Python version of whoever opened the chapter, so it is not saved.
"""


def drop_language_info(model, **_):
    """Pre-save hook: a notebook is saved without its kernel's ``language_info``."""
    if model.get("type") == "notebook":
        model["content"]["metadata"].pop("language_info", None)


c = get_config()  # noqa: F821 (Jupyter defines it when it reads this file)
c.ContentsManager.pre_save_hook = drop_language_info
