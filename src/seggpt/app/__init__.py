"""`seggpt app`: a Gradio page over the public API (image and video tabs).

`uploads`, `images` and `videos` are pure functions from uploaded files and arrays to results (no Gradio);
`layout` builds the page from them and needs the `app` extra (`pip install -e .[app]`).
"""
