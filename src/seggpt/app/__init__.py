"""`seggpt app`: a Gradio page over the public API (image and video tabs).

`uploads`, `images` and `videos` are pure functions from uploaded files and arrays to results (no Gradio);
`layout` builds the page from them and needs the `app` extra (`pip install -e .[app]`). `build_app`,
`launch` and `Limits` are what `seggpt app` uses; they load on first use (Gradio only with the page).
"""

from typing import TYPE_CHECKING

from seggpt.lazy import lazy_attributes

if TYPE_CHECKING:
    from seggpt.app.layout import build_app, launch
    from seggpt.app.uploads import Limits

__all__ = ["Limits", "build_app", "launch"]
__getattr__, __dir__ = lazy_attributes(
    __name__, {"Limits": "seggpt.app.uploads", "build_app": "seggpt.app.layout", "launch": "seggpt.app.layout"}
)
